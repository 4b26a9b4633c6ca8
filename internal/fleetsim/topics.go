package fleetsim

import (
	"strings"

	"github.com/provisiond/provisiond/internal/fleetsim/template"
)

// operation names an API call the way faults and rates spell it.
type operation string

// The three operations.
const (
	opCreateKeys    operation = "create-keys"
	opCreateFromCSR operation = "create-from-csr"
	opRegister      operation = "register"
	opAny           operation = "any"
)

// apiName is the operation's name in the AWS documentation, for messages.
func (o operation) apiName() string {
	switch o {
	case opCreateKeys:
		return "CreateKeysAndCertificate"
	case opCreateFromCSR:
		return "CreateCertificateFromCsr"
	case opRegister:
		return "RegisterThing"
	}
	return string(o)
}

const (
	certificatesPrefix = "$aws/certificates/"
	templatesPrefix    = "$aws/provisioning-templates/"
	formatJSON         = "json"
	formatCBOR         = "cbor"
)

// requestTopic is a parsed request topic.
type requestTopic struct {
	topic    string
	op       operation
	template string // RegisterThing only
	format   string // json | cbor
}

func (r requestTopic) accepted() string { return r.topic + "/accepted" }
func (r requestTopic) rejected() string { return r.topic + "/rejected" }

// parseRequestTopic recognises the six request topics (any template name that is valid).
func parseRequestTopic(topic string) (requestTopic, bool) {
	r := requestTopic{topic: topic}
	switch {
	case strings.HasPrefix(topic, certificatesPrefix):
		rest := topic[len(certificatesPrefix):]
		op, format, ok := strings.Cut(rest, "/")
		if !ok {
			return r, false
		}
		switch op {
		case "create":
			r.op = opCreateKeys
		case "create-from-csr":
			r.op = opCreateFromCSR
		default:
			return r, false
		}
		r.format = format
	case strings.HasPrefix(topic, templatesPrefix):
		parts := strings.Split(topic[len(templatesPrefix):], "/")
		if len(parts) != 3 || parts[1] != "provision" || !template.ValidTemplateName(parts[0]) {
			return r, false
		}
		r.op, r.template, r.format = opRegister, parts[0], parts[2]
	default:
		return r, false
	}
	return r, r.format == formatJSON || r.format == formatCBOR
}

// claimMayUse says whether the claim policy covers a topic or subscription filter: only
// the provisioning API's own topics, as AWS's sample claim policy allows.
func claimMayUse(filter string) bool {
	for _, p := range []string{certificatesPrefix + "create/", certificatesPrefix + "create-from-csr/"} {
		if strings.HasPrefix(filter, p) {
			return true
		}
	}
	if rest, ok := strings.CutPrefix(filter, templatesPrefix); ok {
		name, tail, ok := strings.Cut(rest, "/")
		return ok && template.ValidTemplateName(name) && strings.HasPrefix(tail, "provision/")
	}
	return false
}

// filterMatches is MQTT topic filter matching with + and #. Topics starting with $ are
// not matched by a wildcard in the first level.
func filterMatches(filter, topic string) bool {
	if strings.HasPrefix(topic, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false
	}
	for {
		fseg, frest, fmore := strings.Cut(filter, "/")
		tseg, trest, tmore := strings.Cut(topic, "/")
		switch fseg {
		case "#":
			return true
		case "+":
		default:
			if fseg != tseg {
				return false
			}
		}
		if !fmore || !tmore {
			if !fmore && !tmore {
				return true
			}
			// "a/#" also matches "a".
			return !tmore && fmore && frest == "#"
		}
		filter, topic = frest, trest
	}
}
