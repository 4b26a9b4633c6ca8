package storm

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"runtime"
	"sync"

	"github.com/provisiond/provisiond/internal/fleetsim/fastsign"
)

// deviceCSR is one simulated device's key and its certificate signing request (PEM).
type deviceCSR struct {
	key *ecdsa.PrivateKey
	pem []byte
}

// prepareCSRs makes every device's key and CSR, as each device would on its own CPU
// before it talks to the service, on all CPUs at once and before the storm's clock.
func prepareCSRs(ctx context.Context, prefix string, devices int) ([]deviceCSR, error) {
	out := make([]deviceCSR, devices)
	workers := min(runtime.GOMAXPROCS(0), devices)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < devices; i += workers {
				if err := ctx.Err(); err != nil {
					errs[w] = err
					return
				}
				d, err := newDeviceCSR(serialNumber(prefix, i))
				if err != nil {
					errs[w] = fmt.Errorf("device %d: prepare its key and CSR: %w", i, err)
					return
				}
				out[i] = d
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// newDeviceCSR makes an EC P-256 key, what the daemon generates by default, and a CSR
// for it with the device's serial number as its common name.
func newDeviceCSR(serial string) (deviceCSR, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return deviceCSR{}, err
	}
	der, err := fastsign.CertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: serial}}, key)
	if err != nil {
		return deviceCSR{}, err
	}
	return deviceCSR{key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})}, nil
}
