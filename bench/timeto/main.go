// Command timeto measures the real daemon against a local fleetsim: the time
// from process start to a valid credentials.json for fresh devices, its
// memory while provisioning, and what it costs when idle once registered.
//
//	timeto -bin DIR -method csr -format json -devices 20
//	timeto -bin DIR -idle 60s
//	timeto -bin DIR -start 20
//	timeto -keygen 10 -key rsa-2048
//	timeto -bin DIR -method csr -devices 10 -link-rtt 100ms
//
// The clock starts just before the fork and exec of `provisiond run`; it
// stops when credentials.json, watched through its folder with inotify,
// passes the same checks `provisiond wait` makes (store.ReadCredentials).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/provisiond/provisiond/bench/internal/proc"
	"github.com/provisiond/provisiond/bench/internal/report"
	"github.com/provisiond/provisiond/bench/internal/sim"
	"github.com/provisiond/provisiond/internal/keypair"
	"github.com/provisiond/provisiond/internal/store"
)

func main() {
	bin := flag.String("bin", os.Getenv("BIN"), "folder holding the provisiond and fleetsim binaries")
	method := flag.String("method", "csr", "csr | create-keys")
	format := flag.String("format", "json", "json | cbor")
	keyType := flag.String("key", "ec-p256", "key type for csr")
	devices := flag.Int("devices", 20, "fresh devices to provision, one after the other")
	idle := flag.Duration("idle", 0, "instead: provision one device, then measure this long of idle")
	start := flag.Int("start", 0, "instead: time this many runs of `provisiond version` (process start and exit)")
	keygen := flag.Int("keygen", 0, "instead: time this many key generations of type -key, in-process, as the daemon makes them")
	linkRTT := flag.Duration("link-rtt", 0, "instead: time to provisioned across fleetsim's emulated link of this RTT, with round trips per step from its packet trace")
	syscalls := flag.Bool("syscalls", false, "instead: provision one device under strace and count the syscalls that make writes durable")
	flag.Parse()
	if *keygen > 0 {
		if err := keyGeneration(*keyType, *keygen); err != nil {
			fail(err)
		}
		return
	}
	if *bin == "" {
		fail(errors.New("-bin (or $BIN) is required"))
	}
	provisiond := filepath.Join(*bin, "provisiond")
	fleetsim := filepath.Join(*bin, "fleetsim")
	var err error
	switch {
	case *start > 0:
		err = processStart(provisiond, *start)
	case *syscalls:
		err = durableSyscalls(provisiond, fleetsim, sim.Device{Method: *method, Format: *format, KeyType: *keyType})
	case *linkRTT > 0:
		err = wanTimeToProvisioned(provisiond, fleetsim, sim.Device{Method: *method, Format: *format, KeyType: *keyType}, *devices, *linkRTT)
	case *idle > 0:
		err = idleCost(provisiond, fleetsim, *idle)
	default:
		err = timeToProvisioned(provisiond, fleetsim, sim.Device{Method: *method, Format: *format, KeyType: *keyType}, *devices)
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "timeto: %v\n", err)
	os.Exit(1)
}

// timeToProvisioned provisions n fresh devices one after the other against
// one emulator and prints the median and p95, and the peak RSS.
func timeToProvisioned(provisiond, fleetsim string, dev sim.Device, n int) error {
	emu, stop, err := sim.StartInTemp(fleetsim, "bench-timeto")
	if err != nil {
		return err
	}
	defer stop()
	var times, onCPU, waitCPU []time.Duration
	var hwm []int64
	for i := range n {
		dev.Name = fmt.Sprintf("dev-%s-%s-%03d", dev.Method, dev.Format, i)
		d, err := provisionOne(provisiond, emu, dev)
		if err != nil {
			return err
		}
		times = append(times, d.elapsed)
		hwm = append(hwm, d.sample.VmHWMKiB)
		onCPU = append(onCPU, time.Duration(d.sample.RunNs))
		waitCPU = append(waitCPU, time.Duration(d.sample.WaitNs))
		if err := d.stop(); err != nil {
			return err
		}
	}
	label := dev.Method + ", " + dev.Format
	if dev.Method == "csr" && dev.KeyType != "ec-p256" {
		label += ", " + dev.KeyType + " key generated on the device"
	}
	fmt.Fprintf(os.Stderr, "time to provisioned (%s), ms, in order:", label)
	for _, t := range times {
		fmt.Fprintf(os.Stderr, " %.1f", float64(t)/1e6)
	}
	fmt.Fprintln(os.Stderr)
	// The fastest device shows what the daemon takes when the shared
	// machine happens to leave it alone.
	report.Row("Time to provisioned, "+label+" (median / p95 / min, n="+strconv.Itoa(n)+")",
		report.Ms(report.Median(times))+" / "+report.Ms(report.Percentile(times, 95))+" / "+report.Ms(slices.Min(times)), report.Command())
	report.Row("… daemon CPU time / time runnable but waiting for a CPU (median, all threads, schedstat)",
		report.Ms(report.Median(onCPU))+" / "+report.Ms(report.Median(waitCPU)), report.Command())
	if dev.Method == "csr" && dev.Format == "json" && dev.KeyType == "ec-p256" {
		report.Row("RSS while provisioning (VmHWM at credentials.json, max over devices)", report.MiB(slices.Max(hwm)), report.Command())
	}
	return nil
}

// running is a daemon that has provisioned.
type running struct {
	cmd     *exec.Cmd
	elapsed time.Duration
	sample  proc.Sample
	log     string
}

func (r *running) stop() error {
	_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- r.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("provisiond did not stop cleanly: %v (log %s)", err, r.log)
		}
		return nil
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
		<-done
		return fmt.Errorf("provisiond did not stop within 10s of SIGINT (log %s)", r.log)
	}
}

// provisionOne starts a daemon for a fresh device and returns once its
// credentials.json is valid. The state folder exists and is watched before
// the daemon starts, as systemd's StateDirectory= would have created it.
func provisionOne(provisiond string, emu *sim.Emulator, dev sim.Device, wrap ...string) (*running, error) {
	config, state, err := emu.WriteConfig(dev)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(state, 0o750); err != nil {
		return nil, err
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	defer w.Close()
	if err := w.Add(state); err != nil {
		return nil, err
	}
	credPath := filepath.Join(state, store.CredentialsFile)
	logPath := filepath.Join(filepath.Dir(state), "provisiond.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	argv := append(append([]string{}, wrap...), provisiond, "run", "--config", config)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = sim.DieWithParent()
	begin := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	r := &running{cmd: cmd, log: logPath}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// A slow tick backs up the watch, in case an event is missed.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case ev := <-w.Events:
			if filepath.Base(ev.Name) != store.CredentialsFile {
				continue
			}
		case <-tick.C:
		case err := <-w.Errors:
			_ = r.stop()
			return nil, err
		case <-ctx.Done():
			_ = r.stop()
			return nil, fmt.Errorf("%s not valid 30s after start (daemon log %s)", credPath, logPath)
		}
		if _, err := store.ReadCredentials(credPath); err == nil {
			r.elapsed = time.Since(begin)
			break
		}
	}
	r.sample, err = proc.Read(cmd.Process.Pid)
	if err != nil {
		_ = r.stop()
		return nil, err
	}
	return r, nil
}

// idleCost provisions one device, lets it settle, then measures its idle
// cost over d: CPU time, wake-ups (context switches of all threads) and RSS.
func idleCost(provisiond, fleetsim string, d time.Duration) error {
	emu, stop, err := sim.StartInTemp(fleetsim, "bench-idle")
	if err != nil {
		return err
	}
	defer stop()
	r, err := provisionOne(provisiond, emu, sim.Device{Name: "dev-idle", Method: "csr", Format: "json"})
	if err != nil {
		return err
	}
	// Let the registered transition and the closing of connections finish.
	time.Sleep(2 * time.Second)
	pid := r.cmd.Process.Pid
	s0, err := proc.Read(pid)
	if err != nil {
		_ = r.stop()
		return err
	}
	time.Sleep(d)
	s1, err := proc.Read(pid)
	if err != nil {
		_ = r.stop()
		return err
	}
	if err := r.stop(); err != nil {
		return err
	}
	secs := fmt.Sprintf("%.0f s", d.Seconds())
	cmd := report.Command()
	// The daemon inherits WATCHDOG_USEC, as systemd's WatchdogSec= sets it.
	watchdog := "no watchdog"
	if v := os.Getenv("WATCHDOG_USEC"); v != "" {
		watchdog = "watchdog WATCHDOG_USEC=" + v
		cmd = "WATCHDOG_USEC=" + v + " " + cmd
	} else {
		report.Row("Idle RSS after registration (VmRSS)", report.MiB(s1.VmRSSKiB), cmd)
		report.Row("Peak RSS of the idle run (VmHWM)", report.MiB(s1.VmHWMKiB), cmd)
	}
	report.Row("CPU time in "+secs+" of idle, "+watchdog+" (utime+stime / schedstat)",
		fmt.Sprintf("%d ms / %.2f ms", (s1.Ticks-s0.Ticks)*1000/proc.ClockTicks, float64(s1.RunNs-s0.RunNs)/1e6), cmd)
	report.Row("Wake-ups in "+secs+" of idle, "+watchdog+" (context switches, all threads)",
		fmt.Sprintf("%d (%d voluntary, %d involuntary; %d threads)",
			(s1.Voluntary+s1.Involuntary)-(s0.Voluntary+s0.Involuntary),
			s1.Voluntary-s0.Voluntary, s1.Involuntary-s0.Involuntary, s1.Threads), cmd)
	return nil
}

// processStart times `provisiond version` from fork to exit: the floor
// every daemon start pays (exec, Go runtime, package initialisers).
func processStart(provisiond string, n int) error {
	var times []time.Duration
	for range n {
		begin := time.Now()
		if out, err := exec.Command(provisiond, "version").CombinedOutput(); err != nil {
			return fmt.Errorf("provisiond version: %v: %s", err, out)
		}
		times = append(times, time.Since(begin))
	}
	report.Row("Process start and exit, `provisiond version` (median / p95, n="+strconv.Itoa(n)+")",
		report.Ms(report.Median(times))+" / "+report.Ms(report.Percentile(times, 95)), report.Command())
	return nil
}

// keyGeneration times keypair.Generate, the daemon's own key
// generation for a CSR, apart from the rest: RSA is slow by nature.
func keyGeneration(keyType string, n int) error {
	var times []time.Duration
	for range n {
		begin := time.Now()
		if _, err := keypair.Generate(keyType); err != nil {
			return err
		}
		times = append(times, time.Since(begin))
	}
	report.Row("Key generation on the device, "+keyType+" (median / p95, n="+strconv.Itoa(n)+")",
		report.Ms(report.Median(times))+" / "+report.Ms(report.Percentile(times, 95)), report.Command())
	return nil
}

// durableSyscalls provisions one device under strace and counts, up to the
// rename that puts credentials.json in place, the fsyncs, renames and
// folders created: the cost of the durable writes, in the kernel's terms.
func durableSyscalls(provisiond, fleetsim string, dev sim.Device) error {
	strace, err := exec.LookPath("strace")
	if err != nil {
		return errors.New("strace is not installed")
	}
	emu, stop, err := sim.StartInTemp(fleetsim, "bench-syscalls")
	if err != nil {
		return err
	}
	defer stop()
	trace := filepath.Join(emu.Dir, "strace.txt")
	dev.Name = "dev-syscalls"
	r, err := provisionOne(provisiond, emu, dev, strace, "-f", "-qq", "-o", trace,
		"-e", "trace=fsync,fdatasync,rename,renameat,renameat2,mkdir,mkdirat")
	if err != nil {
		return err
	}
	if err := r.stop(); err != nil {
		return err
	}
	data, err := os.ReadFile(trace)
	if err != nil {
		return err
	}
	var fsyncs, renames, mkdirs int
	for _, line := range strings.Split(string(data), "\n") {
		switch {
		case strings.Contains(line, "resumed>"):
			// The second half of a call strace split: counted at its start.
		case strings.Contains(line, "fsync(") || strings.Contains(line, "fdatasync("):
			fsyncs++
		case strings.Contains(line, "rename"):
			renames++
		case strings.Contains(line, "mkdir") && !strings.Contains(line, "EEXIST"):
			mkdirs++
		}
		if strings.Contains(line, "rename") && strings.Contains(line, "/"+store.CredentialsFile+"\"") {
			break
		}
	}
	report.Row("Durability syscalls until credentials.json is renamed into place, "+dev.Method+", "+dev.Format+" (one device under strace)",
		fmt.Sprintf("%d fsync, %d rename, %d mkdir", fsyncs, renames, mkdirs), report.Command())
	return nil
}
