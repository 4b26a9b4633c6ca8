package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/provisiond/provisiond/internal/storm"
)

// maxFailuresShown bounds the failure lines printed before the summary.
const maxFailuresShown = 20

func cmdStorm(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("storm")
	dir := fs.String("dir", "", "folder made by fleetsim init (its CA and claim are used)")
	devices := fs.Int("devices", 0, "number of devices to provision")
	concurrency := fs.Int("concurrency", 0, "devices provisioning at the same time")
	method := fs.String("method", "csr", "csr | create-keys")
	format := fs.String("format", "json", "json | cbor")
	endpoint := fs.String("endpoint", "", "HOST:PORT of a running emulator; default: start one in-process from --dir")
	tmpl := fs.String("template", "GatewayTemplate", "provisioning template")
	prove := fs.Bool("prove", false, "connect once with each new certificate, as the daemon does (a stage of its own)")
	link := linkFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := checkLink(*link); err != nil {
		return err
	}
	if !link.Loopback() && *endpoint != "" {
		return usageError{errors.New("--link-rtt, --link-jitter, --link-loss and --link-stall shape the emulator storm starts itself: give them to fleetsim serve with --endpoint")}
	}
	if *dir == "" || *devices < 1 || *concurrency < 1 {
		return usageError{errors.New("--dir, --devices N (N >= 1) and --concurrency C (C >= 1) are required")}
	}
	res, err := storm.Run(ctx, storm.Options{Dir: *dir, Endpoint: *endpoint, Devices: *devices,
		Concurrency: *concurrency, Method: *method, Format: *format, Template: *tmpl, Link: *link, Prove: *prove})
	if err != nil {
		return err
	}
	for i, f := range res.Failures {
		if i == maxFailuresShown {
			fmt.Fprintf(stdout, "... and %d more failures\n", len(res.Failures)-maxFailuresShown)
			break
		}
		fmt.Fprintf(stdout, "device %d failed: %v\n", f.Device, f.Err)
	}
	for _, l := range res.StageLines() {
		fmt.Fprintln(stdout, l)
	}
	if l := res.CPULine(); l != "" {
		fmt.Fprintln(stdout, l)
	}
	fmt.Fprintln(stdout, res.Summary())
	if len(res.Failures) > 0 {
		return fmt.Errorf("%d of %d devices failed", len(res.Failures), res.Devices)
	}
	return nil
}
