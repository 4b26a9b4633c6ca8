package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/provisiond/provisiond/bench/internal/report"
	"github.com/provisiond/provisiond/bench/internal/sim"
	"github.com/provisiond/provisiond/internal/fleetsim"
	"github.com/provisiond/provisiond/internal/store"
)

// roundTripFloor is the fewest round trips from process start to a proved
// identity (docs/PERFORMANCE.md, "Round trips"): the claim session's TCP,
// TLS 1.3, CONNECT, one SUBSCRIBE, the certificate call and RegisterThing,
// then the proving connection's TLS and CONNECT, its TCP opened while
// RegisterThing is in flight. One less if the SUBSCRIBE rode behind CONNECT.
const roundTripFloor = 8

// wanTimeToProvisioned provisions n fresh devices, one after the other,
// against an emulator whose every connection crosses a link of the given
// RTT, and reports the time in ms and in RTTs next to the floor, and the
// round trips each step took according to the emulator's packet trace.
func wanTimeToProvisioned(provisiond, fleetsimBin string, dev sim.Device, n int, rtt time.Duration) error {
	emuDir, err := os.MkdirTemp("", "bench-wan-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(emuDir)
	tracePath := filepath.Join(emuDir, "trace.jsonl")
	emu, err := sim.Start(fleetsimBin, filepath.Join(emuDir, "sim"), "--link-rtt", rtt.String(), "--trace", tracePath)
	if err != nil {
		return err
	}
	defer emu.Stop()
	var times []time.Duration
	var runs []wanRun
	for i := range n {
		dev.Name = fmt.Sprintf("wan-%s-%s-%03d", dev.Method, dev.Format, i)
		d, err := provisionOne(provisiond, emu, dev)
		if err != nil {
			return err
		}
		creds, credErr := store.ReadCredentials(filepath.Join(emu.Dir, dev.Name, "state", store.CredentialsFile))
		if err := d.stop(); err != nil {
			return err
		}
		if credErr != nil {
			return credErr
		}
		runs = append(runs, wanRun{claimID: dev.Name, thing: creds.ThingName})
		times = append(times, d.elapsed)
	}
	f, err := os.Open(tracePath)
	if err != nil {
		return err
	}
	defer f.Close()
	evs, err := fleetsim.ReadTrace(f)
	if err != nil {
		return err
	}
	var steps string
	for i, r := range runs {
		s, err := roundTrips(evs, r, rtt)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "round trips per step, %s: %s\n", r.claimID, s)
		if i == 0 {
			steps = s
		}
	}
	label := fmt.Sprintf("%s, %s, link RTT %s", dev.Method, dev.Format, rtt)
	med := report.Median(times)
	report.Row("WAN time to provisioned, "+label+" (median / min, n="+strconv.Itoa(n)+"), in ms and in RTTs; floor",
		fmt.Sprintf("%s (%.1f RTT) / %s (%.1f RTT); floor %d RTT (%s)", report.Ms(med), ratio(med, rtt),
			report.Ms(slices.Min(times)), ratio(slices.Min(times), rtt), roundTripFloor, report.Ms(roundTripFloor*rtt)),
		report.Command())
	report.Row("… round trips per step, from the emulator's packet trace (first device)", steps, report.Command())
	return nil
}

func ratio(d, rtt time.Duration) float64 { return float64(d) / float64(rtt) }

// wanRun names one device's two MQTT clients: the claim session and the
// proving connection (the thing name is its client ID).
type wanRun struct{ claimID, thing string }

// roundTrips reads one device's connections from the trace and counts the
// round trips of each step. A packet the device sent costs a round trip
// of its own when it reached the emulator at least half an RTT after the
// emulator's previous answer on that connection went out (the device
// waited for that answer); sooner, it rode behind the packet before it.
// Each connection's TCP and TLS 1.3 handshakes count one each, but a TCP
// handshake made before the previous connection's last answer overlapped it.
func roundTrips(evs []fleetsim.TraceEvent, r wanRun, rtt time.Duration) (string, error) {
	conns := map[string]uint64{}
	opened := map[uint64]time.Time{}
	for _, ev := range evs {
		if ev.Event == "open" {
			opened[ev.Conn] = ev.Time
		}
		if ev.Packet == "CONNECT" && (ev.ClientID == r.claimID || ev.ClientID == r.thing) {
			if _, seen := conns[ev.ClientID]; !seen {
				conns[ev.ClientID] = ev.Conn
			}
		}
	}
	claim, ok1 := conns[r.claimID]
	prove, ok2 := conns[r.thing]
	if !ok1 || !ok2 {
		return "", fmt.Errorf("the trace lacks the CONNECT of %s or %s", r.claimID, r.thing)
	}
	var parts []string
	total := 0
	add := func(step string, n int) {
		parts = append(parts, fmt.Sprintf("%s %d", step, n))
		total += n
	}
	lastAnswer := connSteps(evs, claim, rtt, add, "claim ")
	tcp := 1
	if opened[prove].Before(lastAnswer) {
		tcp = 0 // opened while the claim session's last call was in flight
	}
	add("prove TCP", tcp)
	add("TLS", 1)
	connSteps(evs, prove, rtt, func(step string, n int) {
		if step != "TCP" && step != "TLS" {
			add(step, n)
		}
	}, "")
	return strings.Join(parts, ", ") + fmt.Sprintf("; total %d", total), nil
}

// connSteps reports the steps of one connection to add and returns when
// its last answer went out.
func connSteps(evs []fleetsim.TraceEvent, conn uint64, rtt time.Duration, add func(string, int), prefix string) time.Time {
	add(prefix+"TCP", 1)
	add("TLS", 1)
	var lastOut time.Time
	for _, ev := range evs {
		if ev.Conn != conn || ev.Event != "packet" {
			continue
		}
		switch {
		case ev.Dir == "out" && ev.Packet != "PUBACK":
			lastOut = ev.Time
		case ev.Dir == "in" && (ev.Packet == "CONNECT" || ev.Packet == "SUBSCRIBE" || ev.Packet == "PUBLISH"):
			n := 1
			if ev.Packet != "CONNECT" && ev.Time.Sub(lastOut) < rtt/2 {
				n = 0
			}
			add(stepName(ev), n)
		}
	}
	return lastOut
}

// stepName names a device's packet: the operation of a request, else its type.
func stepName(ev fleetsim.TraceEvent) string {
	if ev.Packet != "PUBLISH" {
		return ev.Packet
	}
	switch {
	case strings.HasPrefix(ev.Topic, "$aws/certificates/create-from-csr/"):
		return "CreateCertificateFromCsr"
	case strings.HasPrefix(ev.Topic, "$aws/certificates/create/"):
		return "CreateKeysAndCertificate"
	case strings.Contains(ev.Topic, "/provision/"):
		return "RegisterThing"
	}
	return "PUBLISH " + ev.Topic
}
