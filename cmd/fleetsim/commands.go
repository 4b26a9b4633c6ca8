package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/provisiond/provisiond/internal/fleetsim"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}

func cmdInit(args []string, stdout io.Writer) error {
	fs := newFlags("init")
	dir := fs.String("dir", "", "folder to create")
	listen := fs.String("listen", fleetsim.DefaultListen, "address serve will listen on; the daemon config's endpoint")
	claims := fs.Int("claims", 1, "claim certificates to write: claim.pem.crt, claim2.pem.crt, ... (0: none, and no provisiond.yaml)")
	expired := fs.Int("expired-claims", 0, "make the first N claims expired")
	validity := fs.Duration("claim-validity", 0, "the other claims are valid for D from now (default: until 2049-12-31)")
	notAfter := fs.String("claim-not-after", "", "the other claims' notAfter, RFC 3339 (default: 2049-12-31T23:59:59Z)")
	noTemplate := fs.Bool("no-template", false, "write no provisioning template (an empty registry with --claims 0)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *dir == "" {
		return usageError{errors.New("--dir is required")}
	}
	opts := fleetsim.InitOptions{Listen: *listen, Claims: *claims, NoClaim: *claims == 0, ExpiredClaims: *expired, NoTemplate: *noTemplate}
	switch {
	case *claims < 0:
		return usageError{fmt.Errorf("--claims %d must not be negative", *claims)}
	case *expired < 0 || *expired > *claims:
		return usageError{fmt.Errorf("--expired-claims %d: want 0 to --claims (%d)", *expired, *claims)}
	case *validity != 0 && *notAfter != "":
		return usageError{errors.New("--claim-validity and --claim-not-after cannot both be given")}
	case *validity < 0:
		return usageError{fmt.Errorf("--claim-validity %s must be positive (--expired-claims makes expired claims)", *validity)}
	case *validity > 0:
		opts.ClaimNotAfter = time.Now().Add(*validity)
	case *notAfter != "":
		t, err := time.Parse(time.RFC3339, *notAfter)
		if err != nil {
			return usageError{fmt.Errorf("--claim-not-after %q: want an RFC 3339 time such as 2027-01-31T00:00:00Z", *notAfter)}
		}
		opts.ClaimNotAfter = t
	}
	if err := fleetsim.Init(*dir, opts); err != nil {
		return err
	}
	if opts.NoClaim {
		fmt.Fprintf(stdout, "initialised %s without a claim: run `fleetsim serve --dir %s`\n", *dir, *dir)
		return nil
	}
	fmt.Fprintf(stdout, "initialised %s: run `fleetsim serve --dir %s`, then provisiond with --config %s\n",
		*dir, *dir, filepath.Join(*dir, "provisiond.yaml"))
	return nil
}

// multi collects a repeated flag.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

// maxCredentialsFile bounds --api-credentials-file: KEY:SECRET is a line.
const maxCredentialsFile = 4096

// apiCredentials reads --api-credentials or --api-credentials-file (KEY:SECRET, the
// file's white space trimmed); nil when neither is given. Errors never echo the value.
func apiCredentials(flagValue, file string) (*fleetsim.APICredentials, error) {
	what, value := "--api-credentials", flagValue
	switch {
	case flagValue != "" && file != "":
		return nil, usageError{errors.New("--api-credentials and --api-credentials-file: give one")}
	case file != "":
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("--api-credentials-file: %w", err)
		}
		defer f.Close()
		if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("--api-credentials-file %s: not a regular file", file)
		}
		data, err := io.ReadAll(io.LimitReader(f, maxCredentialsFile+1))
		if err != nil {
			return nil, fmt.Errorf("--api-credentials-file: %w", err)
		}
		if len(data) > maxCredentialsFile {
			return nil, fmt.Errorf("--api-credentials-file %s: larger than %d bytes", file, maxCredentialsFile)
		}
		what, value = "--api-credentials-file "+file, strings.TrimSpace(string(data))
	case flagValue == "":
		return nil, nil
	}
	key, secret, ok := strings.Cut(value, ":")
	if !ok || key == "" || secret == "" {
		return nil, usageError{errors.New(what + ": want KEY:SECRET")}
	}
	return &fleetsim.APICredentials{AccessKeyID: key, SecretAccessKey: secret}, nil
}

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("serve")
	dir := fs.String("dir", "", "folder made by fleetsim init")
	listen := fs.String("listen", "", "address to listen on (default: the one init recorded)")
	alpn := fs.String("alpn-listen", "", "optional second listener that requires ALPN x-amzn-mqtt-ca")
	ttl := fs.Duration("token-ttl", time.Hour, "ownership token lifetime")
	logLevel := fs.String("log-level", "info", "debug|info|warn|error")
	keepSubject := fs.Bool("keep-csr-subject", false, "keep the CSR's subject in issued certificates (default: CN=AWS IoT Certificate)")
	link := linkFlags(fs)
	traceFile := fs.String("trace", "", "write a JSON line per connection event and MQTT packet to this file")
	apiListen := fs.String("api-listen", "127.0.0.1:0", "address of the AWS IoT control-plane API (default: a free port on 127.0.0.1)")
	apiCreds := fs.String("api-credentials", "", "KEY:SECRET: the only credentials the API accepts, signature verified (default: any)")
	apiCredsFile := fs.String("api-credentials-file", "", "a file holding KEY:SECRET, as --api-credentials but out of ps's sight")
	validity := fs.Duration("certificate-validity", 0, "lifetime of issued device certificates (default: until 2049-12-31, as AWS)")
	claimValidity := fs.Duration("provisioning-claim-validity", fleetsim.DefaultProvisioningClaimValidity,
		"lifetime of a CreateProvisioningClaim claim (default 5m, as AWS)")
	var faults, rates multi
	fs.Var(&faults, "fault", "OPERATION:ACTION[:COUNT] (repeatable)")
	fs.Var(&rates, "rate", "OPERATION=REQUESTS_PER_SECOND (repeatable)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *dir == "" {
		return usageError{errors.New("--dir is required")}
	}
	opts := fleetsim.Options{Dir: *dir, Listen: *listen, ALPNListen: *alpn, TokenTTL: *ttl, Rates: map[string]float64{},
		KeepCSRSubject: *keepSubject, Link: *link, APIListen: *apiListen, CertificateValidity: *validity,
		ProvisioningClaimValidity: *claimValidity}
	if err := checkLink(*link); err != nil {
		return err
	}
	if *traceFile != "" {
		f, err := os.Create(*traceFile)
		if err != nil {
			return fmt.Errorf("--trace: %w", err)
		}
		defer f.Close()
		opts.Trace = f
	}
	creds, err := apiCredentials(*apiCreds, *apiCredsFile)
	if err != nil {
		return err
	}
	opts.APICredentials = creds
	if *validity < 0 {
		return usageError{fmt.Errorf("--certificate-validity %s must be positive", *validity)}
	}
	if *claimValidity < time.Second {
		return usageError{fmt.Errorf("--provisioning-claim-validity %s: want 1s or more", *claimValidity)}
	}
	for _, spec := range faults {
		f, err := fleetsim.ParseFault(spec)
		if err != nil {
			return usageError{err}
		}
		opts.Faults = append(opts.Faults, f)
	}
	for _, spec := range rates {
		op, n, ok := strings.Cut(spec, "=")
		v, err := strconv.ParseFloat(n, 64)
		if !ok || err != nil || v < 0 {
			return usageError{fmt.Errorf("--rate %q: want OPERATION=REQUESTS_PER_SECOND, e.g. register=50", spec)}
		}
		opts.Rates[op] = v
	}
	log, err := newLogger(*logLevel, stderr)
	if err != nil {
		return usageError{err}
	}
	defer func() { _ = log.Sync() }()
	opts.Logger = log

	srv, err := fleetsim.Start(ctx, opts)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "listening on %s\n", srv.Addr())
	fmt.Fprintf(stdout, "api listening on http://%s\n", srv.APIAddr())
	if a := srv.ALPNAddr(); a != "" {
		log.Info("ALPN listener", zap.String("address", a))
	}
	<-ctx.Done()
	log.Info("stopping")
	return srv.Close()
}

func newLogger(level string, w io.Writer) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	enc := zap.NewDevelopmentEncoderConfig()
	core := zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.AddSync(w), lvl)
	return zap.New(core), nil
}

func cmdRegistry(args []string, stdout io.Writer) error {
	fs := newFlags("registry")
	dir := fs.String("dir", "", "folder made by fleetsim init")
	thing := fs.String("thing", "", "print only this thing")
	cert := fs.String("certificate", "", "print only this certificate (its id)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *dir == "" {
		return usageError{errors.New("--dir is required")}
	}
	if *thing != "" && *cert != "" {
		return usageError{errors.New("--thing and --certificate cannot both be given")}
	}
	var reg any
	var err error
	switch {
	case *thing != "":
		reg, err = fleetsim.ReadThing(*dir, *thing)
	case *cert != "":
		reg, err = fleetsim.ReadCertificate(*dir, *cert)
	default:
		reg, err = fleetsim.ReadRegistry(*dir)
	}
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(reg)
}
