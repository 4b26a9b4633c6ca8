package fleetsim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"strings"
	"time"
)

// initClaim is one factory claim Init writes: claim.pem.crt/claim.pem.key for the first,
// claim2.pem.crt/claim2.pem.key for the second, and so on.
type initClaim struct {
	certFile, keyFile string
	der, keyPEM       []byte
}

// claimFiles are the names of the i-th claim's files (from 1).
func claimFiles(i int) (cert, key string) {
	n := ""
	if i > 1 {
		n = fmt.Sprint(i)
	}
	return "claim" + n + ".pem.crt", "claim" + n + ".pem.key"
}

// claimWindow is the X.509 validity of the i-th claim (from 1) that Init makes: the first
// ExpiredClaims expired an hour ago, the others valid until ClaimNotAfter (default AWS's
// 2049-12-31T23:59:59Z).
func claimWindow(opts InitOptions, i int, now time.Time) (notBefore, notAfter time.Time) {
	notAfter = issuedNotAfter
	switch {
	case i <= opts.ExpiredClaims:
		notAfter = now.Add(-time.Hour)
	case !opts.ClaimNotAfter.IsZero():
		notAfter = opts.ClaimNotAfter
	}
	notBefore = now.Add(-time.Hour)
	if notAfter.Before(now) {
		notBefore = notAfter.Add(-time.Hour)
	}
	return notBefore.UTC().Truncate(time.Second), notAfter.UTC().Truncate(time.Second)
}

// makeClaims signs the claims Init writes.
func makeClaims(ca *authority, opts InitOptions, now time.Time) ([]initClaim, error) {
	n := max(opts.Claims, 1)
	if opts.NoClaim {
		n = 0
	}
	if opts.ExpiredClaims > n {
		return nil, fmt.Errorf("%d expired claims of %d: at most as many as there are claims", opts.ExpiredClaims, n)
	}
	out := make([]initClaim, 0, n)
	for i := 1; i <= n; i++ {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		notBefore, notAfter := claimWindow(opts, i, now)
		der, err := ca.issue(&x509.Certificate{
			Subject:               pkix.Name{CommonName: "fleetsim claim", Organization: []string{"fleetsim"}},
			NotBefore:             notBefore,
			NotAfter:              notAfter,
			KeyUsage:              x509.KeyUsageDigitalSignature,
			ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
			BasicConstraintsValid: true,
		}, key.Public())
		if err != nil {
			return nil, fmt.Errorf("sign claim %d: %w", i, err)
		}
		keyPEM, err := marshalKeyPEM(key)
		if err != nil {
			return nil, err
		}
		cert, keyFile := claimFiles(i)
		out = append(out, initClaim{certFile: cert, keyFile: keyFile, der: der, keyPEM: keyPEM})
	}
	return out, nil
}

// daemonConfigText is provisiond.yaml: one claim in the single form, more as a list in
// priority order.
func daemonConfigText(endpoint string, claims []initClaim) string {
	var b strings.Builder
	fmt.Fprintf(&b, daemonConfigHead, endpoint)
	if len(claims) == 1 {
		fmt.Fprintf(&b, "claim:\n  certificate: %s\n  private_key: %s\n", claims[0].certFile, claims[0].keyFile)
	} else {
		b.WriteString("claim:\n")
		for _, c := range claims {
			fmt.Fprintf(&b, "  - certificate: %s\n    private_key: %s\n", c.certFile, c.keyFile)
		}
	}
	b.WriteString(daemonConfigTail)
	return b.String()
}
