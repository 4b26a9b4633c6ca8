package check

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/provisiond/provisiond/internal/claims"
	"github.com/provisiond/provisiond/internal/connect"
	"github.com/provisiond/provisiond/internal/keypair"
	"github.com/provisiond/provisiond/internal/keypair/tpmkey"
)

// expiryWarning is how close to expiry a certificate draws a warning: an
// expired claim ends provisioning for good, an expired identity the device's
// connection.
const expiryWarning = 30 * 24 * time.Hour

var sprintf = fmt.Sprintf

// config reads the files the other checks use; loading already checked them.
func (r *run) config(context.Context) Result {
	c := r.Config
	if _, err := connect.RootCAs(c.RootCA); err != nil {
		var unreadable *fs.PathError
		if errors.As(err, &unreadable) {
			return fail("make root_ca readable by provisiond", "%v", err)
		}
		return fail(connect.FixRootCA, "%v", err)
	}
	r.claims = chooseClaim(c, r.Now())
	cl := r.claims.use
	switch {
	case cl == nil && c.ClaimImport() != nil && len(c.FileClaims()) == 0:
		return ok("%s: endpoint %s, template %s; the claim comes by `provisiond claim import`", c.Path, c.Endpoint, c.Template.Name)
	case cl == nil && r.claims.decision.AllExpired():
		return fail(fixClaimExpired, "%s: %s", claims.AllExpiredText, r.claims.passedOver())
	case cl == nil:
		return fail("set claim.certificate and claim.private_key to the matching factory claim files",
			"no claim is usable: %s", r.claims.passedOver())
	}
	claim, closeKey, err := r.dialer.ClaimFiles(cl.Certificate, cl.PrivateKey)
	if err != nil {
		return fail("set "+cl.Field+".certificate and "+cl.Field+".private_key to the matching factory claim files", "%v", err)
	}
	r.claim = claim
	r.closers = append(r.closers, closeKey)
	r.claim.Leaf, _ = x509.ParseCertificate(r.claim.Certificate[0])
	return ok("%s: endpoint %s, template %s, %s over %s; reached %s",
		c.Path, c.Endpoint, c.Template.Name, c.CertificateMethod, c.PayloadFormat, r.route.Describe(c.Endpoint))
}

// clock judges the clock against the claim's and root_ca's validity; tls
// amends the verdict if the server's certificate disagrees with the clock.
func (r *run) clock(context.Context) Result {
	now := r.Now()
	at := now.UTC().Format(time.RFC3339)
	if r.claim.Leaf == nil {
		return Result{Status: Skip, Message: "not run: the claim did not load"}
	}
	if nb := r.claim.Leaf.NotBefore; now.Before(nb) {
		return fail(connect.FixClock, "the clock (%s) is before the claim certificate's start (%s): the clock is wrong",
			at, nb.UTC().Format(time.RFC3339))
	}
	roots, _ := keypair.Certificates(mustRead(r.Config.RootCA))
	for _, ca := range roots {
		if now.Before(ca.NotBefore) {
			return fail(connect.FixClock, "the clock (%s) is before root_ca's start (%s, %s): the clock is wrong",
				at, ca.NotBefore.UTC().Format(time.RFC3339), ca.Subject)
		}
	}
	for _, ca := range roots {
		if now.After(ca.NotAfter) {
			return fail(connect.FixRootCA+", or "+connect.FixClock, "root_ca %s expired at %s, or the clock (%s) is ahead",
				ca.Subject, ca.NotAfter.UTC().Format(time.RFC3339), at)
		}
	}
	return ok("the clock (%s) is within the claim's and root_ca's validity", at)
}

func mustRead(path string) []byte {
	b, _ := os.ReadFile(path)
	return b
}

// checkClaim: the claim certificate matches its key and is not expired, and
// a claim key file is not open to other users.
func (r *run) checkClaim(context.Context) Result {
	if r.claim.Leaf == nil {
		return Result{Status: Skip, Message: "not run: the claim did not load"}
	}
	res := r.validity(r.claim.Leaf, "claim certificate "+r.claims.use.Name(), fixClaimExpired)
	if res.Status == Fail {
		return res
	}
	if spec := r.claims.use.PrivateKey; connect.ClaimKeyInToken(spec) && res.Status == OK {
		res.Message += "; its key is in the PKCS#11 token (" + spec + ")"
	}
	if open := ClaimKeyOpenToOthers(r.claims.use.PrivateKey); open != "" {
		return warn(FixClaimKeyMode(r.claims.use.PrivateKey), "%s; %s", res.Message, open)
	}
	if passed := r.claims.passedOver(); passed != "" && res.Status == OK {
		return warn("replace the claims passed over, or remove them from the config", "%s; passed over: %s", res.Message, passed)
	}
	return res
}

// fixClaimExpired is the fix for a claim that expired or is about to.
const fixClaimExpired = "install a new claim certificate from the provisioning account (see provisiond(8), \"When the claim expires or is revoked\"): an expired claim cannot provision"

// FixClaimKeyMode is the fix for a claim key open to other users.
func FixClaimKeyMode(path string) string {
	return "chmod o-rwx " + path + ": whoever reads the claim key can provision devices into the fleet"
}

// ClaimKeyOpenToOthers says how a claim key file is open to users other than
// its owner and group; "" when it is not, or when the key is not a file.
func ClaimKeyOpenToOthers(spec string) string {
	if !connect.ClaimKeyIsFile(spec) {
		return ""
	}
	fi, err := os.Stat(spec)
	if err != nil || fi.Mode().Perm()&0o007 == 0 {
		return ""
	}
	return sprintf("the claim key %s is readable or writable by other users (mode %04o)", spec, fi.Mode().Perm())
}

// validity judges a certificate's remaining life at the clock.
func (r *run) validity(cert *x509.Certificate, what, fix string) Result {
	now := r.Now()
	left := cert.NotAfter.Sub(now)
	until := cert.NotAfter.UTC().Format(time.RFC3339)
	switch {
	case left <= 0:
		return fail(fix, "%s expired at %s", what, until)
	case left < expiryWarning:
		return warn(fix, "%s expires in %d days (%s)", what, int(left.Hours()/24), until)
	}
	return ok("%s matches its key, valid until %s (%s)", what, until, keypair.ID(cert)[:12])
}

// identity checks the current device certificate and proves it with one CONNECT.
func (r *run) identity(ctx context.Context) Result {
	id := r.Identity
	if id == nil {
		return ok("none yet: the device is not provisioned")
	}
	if id.Err != nil {
		return fail("move the state directory's credentials.json aside and let provisiond provision again", "%v", id.Err)
	}
	certPEM, err := os.ReadFile(id.CertificateFile)
	if err != nil {
		return fail("ask for a new identity with provisiond reprovision", "certificate %s: %v", id.CertificateFile, err)
	}
	leaf, err := keypair.Certificate(certPEM)
	if err != nil {
		return fail("ask for a new identity with provisiond reprovision", "certificate %s: %v", id.CertificateFile, err)
	}
	// A TSS2 key file (a key in the TPM) pairs by its public area.
	keyPEM, err := os.ReadFile(id.PrivateKeyFile)
	if err == nil {
		err = tpmkey.CheckPair(certPEM, keyPEM)
	}
	if err != nil {
		return fail("ask for a new identity with provisiond reprovision",
			"certificate %s / key %s: %v", id.CertificateFile, id.PrivateKeyFile, err)
	}
	res := r.validity(leaf, "device certificate of "+id.ThingName, "rotate the identity (provisiond reprovision)")
	if res.Status == Fail {
		return res
	}
	if !r.reached {
		res.Message += "; proving CONNECT not run: the endpoint was not reached"
		return res
	}
	if err := r.dialer.ProvePEM(ctx, id.ThingName, certPEM, keyPEM); err != nil {
		return failed(connect.ExplainIdentity(err))
	}
	res.Message += "; a proving CONNECT was accepted"
	return res
}
