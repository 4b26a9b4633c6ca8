package fleet

import (
	"fmt"
	"strings"
)

// TopicKind says which side of an exchange a topic carries.
type TopicKind string

// The three kinds of topic each operation uses.
const (
	TopicRequest  TopicKind = "request"
	TopicAccepted TopicKind = "accepted"
	TopicRejected TopicKind = "rejected"
)

// Topic is a parsed Fleet Provisioning topic. Template is set only for RegisterThing.
type Topic struct {
	Operation Operation
	Template  string
	Format    Format
	Kind      TopicKind
}

const (
	certificatesPrefix = "$aws/certificates/"
	templatesPrefix    = "$aws/provisioning-templates/"
	createSegment      = "create"
	createCSRSegment   = "create-from-csr"
	provisionSegment   = "provision"
	maxTemplateNameLen = 36
)

// ValidateTemplateName checks a provisioning template name: 1 to 36 characters of [0-9A-Za-z_-].
func ValidateTemplateName(name string) error {
	if name == "" {
		return fmt.Errorf("template name is empty")
	}
	if len(name) > maxTemplateNameLen {
		return fmt.Errorf("template name is %d characters long, the limit is %d", len(name), maxTemplateNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '-') {
			return fmt.Errorf("template name %q has character %q at position %d; only 0-9, A-Z, a-z, _ and - are allowed", name, c, i+1)
		}
	}
	return nil
}

// Validate checks every field of t, including the template name of a RegisterThing topic.
func (t Topic) Validate() error {
	switch t.Format {
	case JSON, CBOR:
	default:
		return fmt.Errorf("unknown payload format %q", t.Format)
	}
	switch t.Kind {
	case TopicRequest, TopicAccepted, TopicRejected:
	default:
		return fmt.Errorf("unknown topic kind %q", t.Kind)
	}
	switch t.Operation {
	case OpCreateKeys, OpCreateFromCSR:
		if t.Template != "" {
			return fmt.Errorf("%s topics take no template name", t.Operation)
		}
	case OpRegisterThing:
		if err := ValidateTemplateName(t.Template); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown operation %q", t.Operation)
	}
	return nil
}

// String renders the topic. It does not validate; use BuildTopic for untrusted parts.
func (t Topic) String() string {
	var b strings.Builder
	switch t.Operation {
	case OpCreateKeys:
		b.WriteString(certificatesPrefix + createSegment)
	case OpCreateFromCSR:
		b.WriteString(certificatesPrefix + createCSRSegment)
	case OpRegisterThing:
		b.WriteString(templatesPrefix + t.Template + "/" + provisionSegment)
	}
	b.WriteByte('/')
	b.WriteString(string(t.Format))
	if t.Kind == TopicAccepted || t.Kind == TopicRejected {
		b.WriteByte('/')
		b.WriteString(string(t.Kind))
	}
	return b.String()
}

// BuildTopic validates the parts and returns the topic string.
func BuildTopic(op Operation, template string, format Format, kind TopicKind) (string, error) {
	t := Topic{Operation: op, Template: template, Format: format, Kind: kind}
	if err := t.Validate(); err != nil {
		return "", fmt.Errorf("build topic: %w", err)
	}
	return t.String(), nil
}

// RequestTopic, AcceptedTopic and RejectedTopic are BuildTopic for one kind.
func RequestTopic(op Operation, template string, format Format) (string, error) {
	return BuildTopic(op, template, format, TopicRequest)
}

// AcceptedTopic returns the accepted-response topic of an operation.
func AcceptedTopic(op Operation, template string, format Format) (string, error) {
	return BuildTopic(op, template, format, TopicAccepted)
}

// RejectedTopic returns the rejected-response topic of an operation.
func RejectedTopic(op Operation, template string, format Format) (string, error) {
	return BuildTopic(op, template, format, TopicRejected)
}

// ParseTopic matches a topic string against the 18 topic shapes of the API.
func ParseTopic(topic string) (Topic, error) {
	var t Topic
	var rest string
	switch {
	case strings.HasPrefix(topic, certificatesPrefix):
		rest = topic[len(certificatesPrefix):]
		op, tail, _ := strings.Cut(rest, "/")
		switch op {
		case createSegment:
			t.Operation = OpCreateKeys
		case createCSRSegment:
			t.Operation = OpCreateFromCSR
		default:
			return Topic{}, fmt.Errorf("topic %q: unknown certificates operation %q", topic, op)
		}
		rest = tail
	case strings.HasPrefix(topic, templatesPrefix):
		rest = topic[len(templatesPrefix):]
		name, tail, ok := strings.Cut(rest, "/")
		if !ok {
			return Topic{}, fmt.Errorf("topic %q: missing /provision after the template name", topic)
		}
		if err := ValidateTemplateName(name); err != nil {
			return Topic{}, fmt.Errorf("topic %q: %w", topic, err)
		}
		seg, tail, _ := strings.Cut(tail, "/")
		if seg != provisionSegment {
			return Topic{}, fmt.Errorf("topic %q: expected %q after the template name, got %q", topic, provisionSegment, seg)
		}
		t.Operation, t.Template, rest = OpRegisterThing, name, tail
	default:
		return Topic{}, fmt.Errorf("topic %q is not a Fleet Provisioning topic", topic)
	}

	format, kind, hasKind := strings.Cut(rest, "/")
	switch Format(format) {
	case JSON, CBOR:
		t.Format = Format(format)
	default:
		return Topic{}, fmt.Errorf("topic %q: unknown payload format %q", topic, format)
	}
	switch {
	case !hasKind:
		t.Kind = TopicRequest
	case TopicKind(kind) == TopicAccepted || TopicKind(kind) == TopicRejected:
		t.Kind = TopicKind(kind)
	default:
		return Topic{}, fmt.Errorf("topic %q: unknown response kind %q", topic, kind)
	}
	return t, nil
}
