// As the fleetsim command: no post-quantum key share that the emulator never uses.
//
//go:debug tlsmlkem=0

package storm

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/provisiond/provisiond/internal/fleetsim"
	"go.uber.org/zap"
)

func newDir(tb testing.TB) string {
	tb.Helper()
	dir := tb.TempDir()
	if err := fleetsim.Init(dir, fleetsim.InitOptions{}); err != nil {
		tb.Fatal(err)
	}
	return dir
}

func TestStormProvisionsEveryDevice(t *testing.T) {
	for _, tt := range []struct{ method, format string }{{"csr", "json"}, {"csr", "cbor"}, {"create-keys", "json"}} {
		t.Run(tt.method+"/"+tt.format, func(t *testing.T) {
			dir := newDir(t)
			devices := 12
			if tt.method == "create-keys" {
				devices = 3 // RSA-2048 keys are slow to make
			}
			res, err := Run(context.Background(), Options{Dir: dir, Devices: devices, Concurrency: 4,
				Method: tt.method, Format: tt.format, Prefix: "t"})
			if err != nil {
				t.Fatal(err)
			}
			if res.Provisioned != devices || len(res.Failures) != 0 {
				t.Fatalf("provisioned %d/%d, failures %v", res.Provisioned, devices, res.Failures)
			}
			reg, err := fleetsim.ReadRegistry(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(reg.Things) != devices {
				t.Fatalf("%d things in the registry, want %d", len(reg.Things), devices)
			}
			for i := 0; i < devices; i++ {
				name := fmt.Sprintf("gw-t-%06d", i)
				found := false
				for _, th := range reg.Things {
					found = found || th.ThingName == name
				}
				if !found {
					t.Errorf("thing %s missing", name)
				}
			}
			if ok, _ := regexp.MatchString(`^provisioned \d+/\d+ devices in \d+\.\ds: \d+ devices/s, p50 \d+ms, p99 \d+ms$`, res.Summary()); !ok {
				t.Errorf("summary %q", res.Summary())
			}
		})
	}
}

func TestStormReportsFailures(t *testing.T) {
	dir := newDir(t)
	res, err := Run(context.Background(), Options{Dir: dir, Devices: 3, Concurrency: 2, Template: "NoSuchTemplate", Prefix: "f"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Provisioned != 0 || len(res.Failures) != 3 || !strings.Contains(res.Failures[0].Err.Error(), "404") {
		t.Fatalf("result %+v", res)
	}
	if !strings.HasPrefix(res.Summary(), "provisioned 0/3 devices in ") {
		t.Errorf("summary %q", res.Summary())
	}
}

func TestSummaryShape(t *testing.T) {
	r := Result{Devices: 2000, Provisioned: 2000, Elapsed: 1900 * time.Millisecond}
	for i := 0; i < 100; i++ {
		r.Latencies = append(r.Latencies, time.Duration(i+1)*time.Millisecond)
	}
	want := "provisioned 2000/2000 devices in 1.9s: 1053 devices/s, p50 50ms, p99 99ms"
	if got := r.Summary(); got != want {
		t.Errorf("Summary() = %q, want %q", got, want)
	}
}

func benchmarkProvision(b *testing.B, method string) {
	dir := newDir(b)
	srv, err := fleetsim.Start(context.Background(), fleetsim.Options{Dir: dir, Listen: "127.0.0.1:0", Logger: zap.NewNop()})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	b.ResetTimer()
	res, err := Run(context.Background(), Options{Dir: dir, Endpoint: srv.Addr(), Devices: b.N, Concurrency: 16,
		Method: method, Prefix: fmt.Sprintf("b%d", b.N)})
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if len(res.Failures) > 0 {
		b.Fatalf("%d failures, first: %v", len(res.Failures), res.Failures[0].Err)
	}
	b.ReportMetric(res.Rate(), "provisions/s")
	b.ReportMetric(float64(res.Percentile(99).Microseconds())/1000, "p99-ms")
}

// BenchmarkProvisionCSR measures CreateCertificateFromCsr + RegisterThing per device.
func BenchmarkProvisionCSR(b *testing.B) { benchmarkProvision(b, "csr") }

// BenchmarkProvisionCreateKeys measures CreateKeysAndCertificate + RegisterThing per device.
func BenchmarkProvisionCreateKeys(b *testing.B) { benchmarkProvision(b, "create-keys") }

func TestDefaultPrefixDiffersWithinOneSecond(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	a, b := defaultPrefix(now), defaultPrefix(now)
	if a == b {
		t.Fatalf("two storms started in the same second share the prefix %q", a)
	}
	if !regexp.MustCompile(`^storm-[0-9a-z]+-[0-9a-f]{8}$`).MatchString(a) {
		t.Errorf("prefix %q", a)
	}
}
