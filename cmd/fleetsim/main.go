// The storm's devices offer only the classical key exchanges the emulator (and AWS IoT)
// agrees: an X25519MLKEM768 key share, made at every handshake and never used, would cost
// each simulated device more than the emulator's ECDH. The emulator ignores the setting:
// its curve preferences are explicit.
//
//go:debug tlsmlkem=0

// Command fleetsim is an offline emulator of AWS IoT Fleet Provisioning over MQTT.
//
//	fleetsim init --dir D [--listen HOST:PORT] [--claims N] [--expired-claims K] [--claim-validity D | --claim-not-after T] [--no-template]
//	fleetsim serve --dir D [--listen HOST:PORT] [--alpn-listen HOST:PORT] [--token-ttl D] [--fault SPEC]... [--rate OP=N]...
//	fleetsim registry --dir D [--thing NAME | --certificate ID]
//	fleetsim storm --dir D --devices N --concurrency C [--method csr|create-keys] [--format json|cbor] [--endpoint HOST:PORT] [--prove]
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

const usage = `usage:
  fleetsim init --dir D [--listen HOST:PORT] [--claims N] [--expired-claims K]
                [--claim-validity D | --claim-not-after RFC3339] [--no-template]
                --claims 0 --no-template makes an empty registry (no claim, no template, no provisiond.yaml).
  fleetsim serve --dir D [--listen HOST:PORT] [--alpn-listen HOST:PORT] [--token-ttl D] [--fault SPEC]... [--rate OP=N]...
                 [--keep-csr-subject] [--log-level L]
                 [--link-rtt D] [--link-jitter J] [--link-loss P] [--link-stall P] [--trace FILE]
                 [--api-listen HOST:PORT] [--api-credentials KEY:SECRET | --api-credentials-file FILE]
                 [--certificate-validity D] [--provisioning-claim-validity D]
  fleetsim registry --dir D [--thing NAME | --certificate ID]
  fleetsim storm --dir D --devices N --concurrency C [--method csr|create-keys] [--format json|cbor] [--endpoint HOST:PORT]
                 [--prove] [--link-rtt D] [--link-jitter J] [--link-loss P] [--link-stall P]
                 With csr, every device's key and CSR are made before the clock starts, as a device
                 makes them on its own CPU; each device's connection, full mutual-TLS handshake and
                 calls are timed. It prints p50/p95/p99 per stage (TLS handshake, CONNACK,
                 CreateCertificate*, RegisterThing, and with --prove the proving connect), the CPU
                 per device of an emulator at --endpoint on this machine, then the rate.
`

func main() {
	// The emulator's heap is small and its work allocation-heavy (TLS, x509): collecting
	// less often buys throughput in storms for little memory, unless GOGC says otherwise.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	// SIGINT and SIGTERM stop serve and storm cleanly.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one command and returns the exit code; ctx ending stops it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "init":
		err = cmdInit(args[1:], stdout)
	case "serve":
		err = cmdServe(ctx, args[1:], stdout, stderr)
	case "registry":
		err = cmdRegistry(args[1:], stdout)
	case "storm":
		err = cmdStorm(ctx, args[1:], stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "fleetsim: unknown command %q\n%s", args[0], usage)
		return 2
	}
	if err != nil {
		if _, ok := err.(usageError); ok {
			fmt.Fprintf(stderr, "fleetsim %s: %v\n%s", args[0], err, usage)
			return 2
		}
		fmt.Fprintf(stderr, "fleetsim %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

// usageError is a bad command line.
type usageError struct{ error }
