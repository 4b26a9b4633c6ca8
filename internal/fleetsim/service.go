package fleetsim

import (
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"go.uber.org/zap"

	"github.com/provisiond/provisiond/internal/fleetsim/awsapi"
	"github.com/provisiond/provisiond/internal/fleetsim/template"
)

// APICredentials are the one access key the control-plane API accepts.
type APICredentials = awsapi.Credentials

// APIAddr is the control-plane API's address, "" when it is not served.
func (s *Server) APIAddr() string {
	if s.api == nil {
		return ""
	}
	return s.api.Addr()
}

// apiService is what the API asks of the MQTT side.
type apiService struct{ s *Server }

func (a apiService) Endpoint() string        { return a.s.Addr() }
func (a apiService) CACertificateID() string { return certificateID(a.s.ca.cert.Raw) }
func (a apiService) ReloadTemplates()        { a.s.templates.reload() }

func (a apiService) DropCertificate(id, why string) { a.s.dropCertificate(id, why) }

func (a apiService) UseTemplate(name string, t *template.Template, enabled bool, hookURL string) {
	if t == nil {
		a.s.templates.setAPI(name, nil)
		return
	}
	a.s.templates.setAPI(name, &tmplEntry{tpl: t, enabled: enabled, hookURL: hookURL})
}

// dropCertificate closes the connections made with a certificate that may no longer
// connect, as AWS IoT does when a certificate is deactivated, revoked or deleted.
func (s *Server) dropCertificate(id, why string) {
	s.clients.Range(func(_, v any) bool {
		ci := v.(*clientInfo)
		if ci.certID == id && !ci.cl.Closed() {
			s.log.Info("closing a connection: "+why, zap.String("clientId", ci.cl.ID), zap.String("certificateId", id))
			disconnect(s.broker, ci.cl)
		}
		return true
	})
}

func disconnect(b *mqtt.Server, cl *mqtt.Client) {
	_ = b.DisconnectClient(cl, packets.ErrNotAuthorized)
}
