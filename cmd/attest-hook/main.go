// Command attest-hook is the reference pre-provisioning hook that verifies
// device attestation (docs/ATTESTATION.md). It runs as an AWS Lambda
// function (provided.al2023: this binary named bootstrap, in the zip that
// `make attest-hook-zip` builds) when AWS_LAMBDA_RUNTIME_API is set, and as
// a local HTTP hook for fleetsim with --listen.
//
//	attest-hook --roots FILE [--listen HOST:PORT] [--thing-name-from SOURCE]
//	            [--thing-name-parameter NAME] [--parameter-names Format=F,…] [--log-level L]
//
// Each flag can also come from the environment (a Lambda function's
// configuration; a relative ATTEST_HOOK_ROOTS is in the task root): ATTEST_HOOK_ROOTS, ATTEST_HOOK_THING_NAME_FROM,
// ATTEST_HOOK_THING_NAME_PARAMETER, ATTEST_HOOK_PARAMETER_NAMES,
// ATTEST_HOOK_LOG_LEVEL; a flag wins.
package main

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"go.uber.org/zap"

	"github.com/provisiond/provisiond/internal/attest"
	"github.com/provisiond/provisiond/internal/logging"
)

const usage = `usage: attest-hook --roots FILE [--listen HOST:PORT] [--thing-name-from subject-serial|certificate-serial|common-name]
                   [--thing-name-parameter NAME] [--parameter-names Format=F,Certificate=C,Statement=S,Signature=G,Key=K]
                   [--log-level debug|info|warn|error]
  As an AWS Lambda function (AWS_LAMBDA_RUNTIME_API set) it serves the runtime API;
  with --listen it answers hook events POSTed as JSON, as fleetsim's preProvisioningHook.
  Flags default to ATTEST_HOOK_ROOTS, ATTEST_HOOK_THING_NAME_FROM, ATTEST_HOOK_THING_NAME_PARAMETER,
  ATTEST_HOOK_PARAMETER_NAMES and ATTEST_HOOK_LOG_LEVEL.
`

// Exit codes, as provisiond's: 64 usage, 78 a bad setting, 1 any other failure.
const (
	exitUsage  = 64
	exitConfig = 78
)

type options struct {
	roots, listen, thingNameFrom, thingNameParameter, parameterNames, logLevel string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func parseFlags(args []string) (options, error) {
	env := func(name, def string) string {
		if v := os.Getenv(name); v != "" {
			return v
		}
		return def
	}
	var o options
	fs := flag.NewFlagSet("attest-hook", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.roots, "roots", env("ATTEST_HOOK_ROOTS", ""), "PEM file of the OEM roots")
	fs.StringVar(&o.listen, "listen", "", "serve hook events over HTTP on HOST:PORT")
	fs.StringVar(&o.thingNameFrom, "thing-name-from", env("ATTEST_HOOK_THING_NAME_FROM", string(attest.FromSubjectSerial)), "")
	fs.StringVar(&o.thingNameParameter, "thing-name-parameter", env("ATTEST_HOOK_THING_NAME_PARAMETER", "ThingName"), "")
	fs.StringVar(&o.parameterNames, "parameter-names", env("ATTEST_HOOK_PARAMETER_NAMES", ""), "")
	fs.StringVar(&o.logLevel, "log-level", env("ATTEST_HOOK_LOG_LEVEL", "info"), "")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.roots == "" {
		return o, errors.New("--roots (or ATTEST_HOOK_ROOTS) is required")
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usage)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "attest-hook: %v\n%s", err, usage)
		return exitUsage
	}
	lambdaAPI := os.Getenv("AWS_LAMBDA_RUNTIME_API")
	if o.listen == "" && lambdaAPI == "" {
		fmt.Fprintf(stderr, "attest-hook: give --listen HOST:PORT, or run as a Lambda function\n%s", usage)
		return exitUsage
	}
	// A function's files are in its task root, wherever it is started.
	if root := os.Getenv("LAMBDA_TASK_ROOT"); o.listen == "" && root != "" && !filepath.IsAbs(o.roots) {
		o.roots = filepath.Join(root, o.roots)
	}
	log, err := logging.New(o.logLevel, os.Stderr)
	if err != nil {
		fmt.Fprintf(stderr, "attest-hook: --log-level: %v\n", err)
		return exitConfig
	}
	defer log.Sync() //nolint:errcheck // stderr
	hook, err := newHook(o, log)
	if err != nil {
		fmt.Fprintf(stderr, "attest-hook: %v\n", err)
		return exitConfig
	}
	if o.listen == "" {
		lambda.StartWithOptions(hook.Handle, lambda.WithContext(ctx))
		return 0
	}
	if err := serve(ctx, o.listen, hook, stdout); err != nil {
		fmt.Fprintf(stderr, "attest-hook: %v\n", err)
		return 1
	}
	return 0
}

// newHook builds the hook the options describe.
func newHook(o options, log *zap.Logger) (*attest.Hook, error) {
	pemData, err := os.ReadFile(o.roots)
	if err != nil {
		return nil, fmt.Errorf("--roots: %v", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pemData) {
		return nil, fmt.Errorf("--roots: %s holds no PEM certificate", o.roots)
	}
	src, err := attest.ParseThingNameSource(o.thingNameFrom)
	if err != nil {
		return nil, fmt.Errorf("--thing-name-from: %v", err)
	}
	names, err := attest.ParseNames(o.parameterNames)
	if err != nil {
		return nil, fmt.Errorf("--parameter-names: %v", err)
	}
	return &attest.Hook{
		Verifier:           &attest.Verifier{Roots: roots, Names: names, ThingName: src},
		ThingNameParameter: o.thingNameParameter,
		Log:                log,
	}, nil
}

// serve answers hook events on addr until ctx ends. It prints
// "listening on HOST:PORT" once it accepts connections.
func serve(ctx context.Context, addr string, hook *attest.Hook, stdout io.Writer) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--listen: %v", err)
	}
	srv := &http.Server{Handler: hook, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "listening on %s\n", l.Addr())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}
