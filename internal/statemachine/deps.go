package statemachine

import (
	"context"
	"crypto"
	"crypto/tls"

	"github.com/provisiond/provisiond/internal/claims"
	"github.com/provisiond/provisiond/internal/fleet"
)

// Session is one claim-certificate connection to Fleet Provisioning.
// *fleet.Client satisfies it.
type Session interface {
	CreateKeysAndCertificate(ctx context.Context) (*fleet.Issued, error)
	CreateCertificateFromCSR(ctx context.Context, csrPEM []byte, key crypto.Signer) (*fleet.Issued, error)
	RegisterThing(ctx context.Context, template, token string, parameters map[string]string) (*fleet.Registration, error)
	Close() error
}

// Dialer opens provisioning sessions and proves new identities.
type Dialer interface {
	// Claims lists the claims the device may provision with, in the
	// config's order and read now: the files installed, and a temporary
	// claim handed over, at the place of the config's {source: import}.
	Claims() []claims.Claim
	// Dial connects with one of the claims Claims listed.
	Dial(ctx context.Context, claim claims.Claim) (Session, error)
	// DialDevice connects with the device's current identity instead of the
	// claim (rotation.credential: device); template is the template the
	// session registers with. cert holds the identity's key: a software key,
	// or a key in a secure element that signs the handshake there.
	DialDevice(ctx context.Context, thingName, template string, cert tls.Certificate) (Session, error)
	// Prove connects once with a new identity and reports whether the endpoint
	// accepted it. thingName is the client ID to use (device policies usually
	// require it). cert holds the new key, as for DialDevice.
	Prove(ctx context.Context, thingName string, cert tls.Certificate) error
}

// Notifier reports to the service manager. A nil-safe no-op is used when absent.
type Notifier interface {
	Ready()
	Status(text string)
	Watchdog()
}
