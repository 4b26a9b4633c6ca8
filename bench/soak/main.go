// Command soak runs the real provisiond against the real fleetsim for a long
// time under churn, and fails when the daemon leaks or misbehaves: the years
// of a gateway's life in minutes. fleetsim issues certificates valid a few
// seconds, so the daemon rotates every few seconds; verify_every proves the
// identity as often; and fleetsim is
// killed (SIGKILL) and restarted at random moments from a logged seed. The
// link emulator drops requests and leaves connections half-open.
//
// Each second it samples the daemon's RSS and open descriptors (/proc), its
// goroutines (PROVISIOND_DEBUG_STATS) and the size of the state folder. A
// watcher reads credentials.json and the pair it names continuously. It
// fails when, after the warm-up, a series grows by more than its bound over
// the run; when the watcher ever finds an unusable pair; when fleetsim
// issued more certificates than were handed over plus one per interruption;
// or when the daemon logs an error that is not an expected network failure.
//
//	soak -provisiond bin/provisiond -fleetsim bin/fleetsim -duration 10m
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

func main() {
	var o options
	flag.StringVar(&o.provisiond, "provisiond", "bin/soak/provisiond", "the daemon's binary")
	flag.StringVar(&o.fleetsim, "fleetsim", "bin/soak/fleetsim", "the emulator's binary")
	flag.DurationVar(&o.duration, "duration", 10*time.Minute, "how long to run")
	flag.DurationVar(&o.warmup, "warmup", 0, "samples before this are not judged (default: a fifth of the run, at least 15s)")
	flag.Uint64Var(&o.seed, "seed", 0, "seed of the fleetsim kill schedule (default: from the clock, logged)")
	flag.DurationVar(&o.validity, "validity", 6*time.Second, "lifetime of the certificates fleetsim issues")
	flag.Float64Var(&o.loss, "link-loss", 0.03, "probability that a request drops its connection")
	flag.Float64Var(&o.stall, "link-stall", 0.02, "probability that a CONNECT or request leaves its connection half-open")
	flag.StringVar(&o.keep, "keep", "", "copy the samples (CSV) and logs into this folder")
	flag.Parse()
	if o.seed == 0 {
		o.seed = uint64(time.Now().UnixNano())
	}
	if o.warmup == 0 {
		o.warmup = max(o.duration/5, 15*time.Second)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintf(os.Stderr, "soak: FAIL: %v\n", err)
		os.Exit(1)
	}
}

type options struct {
	provisiond, fleetsim string
	duration, warmup     time.Duration
	seed                 uint64
	validity             time.Duration
	loss, stall          float64
	keep                 string
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "soak [%s]: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func run(ctx context.Context, o options) error {
	dir, err := os.MkdirTemp("", "provisiond-soak-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	logf("seed %d, %s (warm-up %s), certificates valid %s, link loss %.0f%%, stalls %.0f%%, in %s",
		o.seed, o.duration, o.warmup, o.validity, o.loss*100, o.stall*100, dir)

	sim, err := newSimulator(o, dir)
	if err != nil {
		return err
	}
	defer sim.stop()
	if err := sim.start(); err != nil {
		return err
	}
	cfg, err := writeDaemonConfig(sim)
	if err != nil {
		return err
	}
	d, err := startDaemon(o.provisiond, cfg, dir)
	if err != nil {
		return err
	}
	defer d.stop()

	runCtx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	w := newWatcher(filepath.Join(dir, "state"))
	go w.run(runCtx)
	samples := make(chan []sample, 1)
	go func() { samples <- sampleEvery(runCtx, d, filepath.Join(dir, "state"), time.Second) }()
	kills := chaos(runCtx, sim, rand.New(rand.NewPCG(o.seed, o.seed^0x9e3779b97f4a7c15)))
	<-runCtx.Done()
	got := <-samples
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted")
	}
	if err := sim.ensureUp(); err != nil {
		return err
	}
	exited := d.stop()

	r := report{
		opts: o, samples: got, kills: <-kills, watch: w.result(),
		drops: sim.traced(`"event":"drop"`), stalls: sim.traced(`"event":"stall"`),
		issued:    sim.certificatesIssued(),
		daemonLog: d.logPath, exited: exited,
	}
	if o.keep != "" {
		if err := r.keepFiles(o.keep, dir); err != nil {
			logf("keep: %v", err)
		}
	}
	return r.judge()
}
