package fleet

import (
	"errors"

	"github.com/eclipse/paho.mqtt.golang/packets"
)

// Refused says whether err, from a proving CONNECT with the device's current
// identity (Prove or Dial), is the service refusing that identity, and why.
// Only the service's own verdict counts:
//   - a CONNACK "not authorised" or "bad user name or password" (AWS IoT and
//     the emulator answer so for an inactive, revoked or unknown certificate);
//   - a TLS alert from the server that refuses our certificate (bad, unknown,
//     revoked, unknown CA, access denied, expired at a plausible clock, …).
//
// Everything else is not a refusal and must never make the daemon give up
// its identity: dial errors, timeouts, resets, an EOF (even one after the
// TLS handshake: AWS closes a connection for many reasons, a proxy or a
// load balancer may too), a CONNACK "server unavailable", our own failure to
// verify the server (a wrong root CA or an interception proxy is not the
// service's verdict), a server's "expired" alert while our clock is before
// the certificate's start (*ClockError), and a cancelled context. A device
// offline for a month keeps its identity.
func Refused(err error) (reason string, refused bool) {
	if err == nil {
		return "", false
	}
	var ce *ClockError
	if errors.As(err, &ce) {
		return "", false
	}
	for _, code := range []error{packets.ErrorRefusedNotAuthorised, packets.ErrorRefusedBadUsernameOrPassword} {
		if errors.Is(err, code) {
			return "CONNACK refused: " + code.Error(), true
		}
	}
	if alert := alertText(err); certificateAlerts[alert] {
		return "TLS alert from the server: " + alert, true
	}
	return "", false
}
