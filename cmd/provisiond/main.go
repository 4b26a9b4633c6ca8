// Command provisiond takes a device from its factory claim certificate to its
// own AWS IoT identity through Fleet Provisioning over MQTT, and hands the
// result to the rest of the device in credentials.json.
package main

import (
	"fmt"
	"io"
	"os"
)

// Exit codes other programs rely on.
const (
	exitOK       = 0
	exitFailure  = 1
	exitUsage    = 64 // EX_USAGE
	exitDataErr  = 65 // EX_DATAERR: a corrupt state file; restarting will not mend it
	exitConfig   = 78 // EX_CONFIG: a bad config; restarting will not mend it
	exitTimedOut = 75 // EX_TEMPFAIL: wait timed out
)

const usage = `usage: provisiond COMMAND [--config FILE] [options]

commands:
  run                      run the daemon
  status [--json]          print the provisioning state
  wait [--timeout D]       exit 0 once credentials.json is valid
  reprovision [--wait D] [--if-refused]
                           ask the running daemon for a new identity (with
                           --if-refused: only if the service refuses this one)
  check [--online [--json] [--warnings-as-errors] [--timeout D]]
                           validate the config; --online diagnoses each step
  claim import [FILE|-] [--wait D]
                           hand the daemon a temporary claim (CreateProvisioningClaim's
                           JSON, or a PEM certificate and key); --wait prints the thing
                           name, or the failure
  version [--json]         print the version and commit; --json adds the Go
                           version and the linked modules
`

func main() {
	os.Exit(runCLI(os.Args[1:], os.Stdout, os.Stderr))
}

// runCLI dispatches a command and returns its exit code.
func runCLI(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "run":
		return cmdRun(rest, stderr)
	case "status":
		return cmdStatus(rest, stdout, stderr)
	case "wait":
		return cmdWait(rest, stdout, stderr)
	case "reprovision":
		return cmdReprovision(rest, stdout, stderr)
	case "claim":
		return cmdClaim(rest, os.Stdin, stdout, stderr)
	case "check":
		return cmdCheck(rest, stdout, stderr)
	case "version", "--version", "-v":
		return cmdVersion(rest, stdout, stderr)
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "provisiond: unknown command %q\n\n%s", cmd, usage)
	return exitUsage
}
