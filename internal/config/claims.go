package config

import (
	"fmt"
	"slices"

	"gopkg.in/yaml.v3"

	"github.com/provisiond/provisiond/internal/fleet"
)

// Claim is one claim the daemon may provision with: a certificate and key
// installed at the factory, or (Import set) a temporary claim that a trusted
// user hands over with `provisiond claim import`.
type Claim struct {
	Certificate string
	PrivateKey  string
	// Import is set for {source: import}; Certificate and PrivateKey are
	// then empty.
	Import *ClaimImport
	// Field is how errors and status name it: "claim" for the single form,
	// "claim[1]" in a list.
	Field string
}

// ClaimImport is what a temporary claim's drop may ask for beyond the
// certificate and key. A drop never sets the endpoint or the root CA.
type ClaimImport struct {
	// Templates are the template names a drop may ask for, besides
	// template.name.
	Templates []string
	// Parameters are the template parameters a drop may set; others are
	// refused.
	Parameters []string
}

// Allows says whether a temporary claim may ask for template (empty: the
// config's) and parameters: template.name or one of the import's
// templates, and only the parameters it lists.
func (imp *ClaimImport) Allows(c *Config, template string, parameters map[string]string) error {
	if template != "" && template != c.Template.Name && !slices.Contains(imp.Templates, template) {
		return fmt.Errorf("template %q: the config's claim import allows %s only (add it to its templates)",
			template, orList(quoted(append([]string{c.Template.Name}, imp.Templates...))))
	}
	for name := range parameters {
		if !slices.Contains(imp.Parameters, name) {
			return fmt.Errorf("parameter %q: the config's claim import does not allow it (add it to its parameters)", name)
		}
	}
	return nil
}

func quoted(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = fmt.Sprintf("%q", n)
	}
	return out
}

// Name is how status and the journal name the claim: its certificate file,
// or "imported claim".
func (c Claim) Name() string {
	if c.Import != nil {
		return "imported claim"
	}
	return c.Certificate
}

// SourceImport is the claim source that waits for a temporary claim.
const SourceImport = "import"

var claimImportKeys = []string{"source", "templates", "parameters"}

// claims reads claim: one {certificate, private_key} mapping, a
// {source: import} mapping, or a list of them in priority order.
func (p *parser) claims(n *yaml.Node) ([]Claim, error) {
	n = deref(n)
	if n.Kind != yaml.SequenceNode {
		c, err := p.claim(n, "claim")
		if err != nil {
			return nil, err
		}
		return []Claim{c}, nil
	}
	if len(n.Content) == 0 {
		return nil, p.errorf(n.Line, "claim", "the list is empty: give at least one claim")
	}
	out := make([]Claim, 0, len(n.Content))
	imports := 0
	for i, item := range n.Content {
		c, err := p.claim(item, fmt.Sprintf("claim[%d]", i))
		if err != nil {
			return nil, err
		}
		if c.Import != nil {
			imports++
			if imports > 1 {
				return nil, p.errorf(deref(item).Line, c.Field, "source: import is given twice: one drop folder serves the device")
			}
		}
		out = append(out, c)
	}
	return out, nil
}

// claim reads one claim mapping; field is its name in errors.
func (p *parser) claim(n *yaml.Node, field string) (Claim, error) {
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		return Claim{}, p.errorf(n.Line, field, "must be a mapping with certificate and private_key, or source: import; got %s", kindName(n))
	}
	prefix := field + "."
	if hasKey(n, "source") {
		m, err := p.mapping(n, prefix, claimImportKeys)
		if err != nil {
			return Claim{}, err
		}
		src, err := p.scalar(m["source"], prefix+"source")
		if err != nil {
			return Claim{}, err
		}
		if src != SourceImport {
			return Claim{}, p.errorf(p.lines[prefix+"source"], prefix+"source", "must be %q (a temporary claim from `provisiond claim import`), got %q", SourceImport, src)
		}
		imp := &ClaimImport{}
		if imp.Templates, err = p.names(m["templates"], prefix+"templates", fleet.ValidateTemplateName); err != nil {
			return Claim{}, err
		}
		if imp.Parameters, err = p.names(m["parameters"], prefix+"parameters", nil); err != nil {
			return Claim{}, err
		}
		return Claim{Import: imp, Field: field}, nil
	}
	m, err := p.mapping(n, prefix, claimKeys)
	if err != nil {
		return Claim{}, err
	}
	c := Claim{Field: field}
	if c.Certificate, err = p.requiredPath(m, n, prefix, "certificate"); err != nil {
		return Claim{}, err
	}
	if c.PrivateKey, err = p.claimKey(m, n, prefix); err != nil {
		return Claim{}, err
	}
	return c, nil
}

// names reads a list of names; valid, when set, checks each.
func (p *parser) names(n *yaml.Node, field string, valid func(string) error) ([]string, error) {
	n = deref(n)
	if n == nil || isNull(n) {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, p.errorf(n.Line, field, "must be a list of names, got %s", kindName(n))
	}
	var out []string
	for _, item := range n.Content {
		v, err := p.scalar(item, field)
		if err != nil {
			return nil, err
		}
		if v == "" {
			return nil, p.errorf(deref(item).Line, field, "names must not be empty")
		}
		if valid != nil {
			if err := valid(v); err != nil {
				return nil, p.errorf(deref(item).Line, field, "%q: %v", v, err)
			}
		}
		if slices.Contains(out, v) {
			return nil, p.errorf(deref(item).Line, field, "%q is given twice", v)
		}
		out = append(out, v)
	}
	return out, nil
}

func hasKey(n *yaml.Node, key string) bool {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if deref(n.Content[i]).Value == key {
			return true
		}
	}
	return false
}

// FileClaims are the claims installed as files, in priority order.
func (c *Config) FileClaims() []Claim {
	var out []Claim
	for _, cl := range c.Claims {
		if cl.Import == nil {
			out = append(out, cl)
		}
	}
	return out
}

// ClaimImport is the {source: import} claim's settings; nil when the config
// takes no temporary claim.
func (c *Config) ClaimImport() *ClaimImport {
	for _, cl := range c.Claims {
		if cl.Import != nil {
			return cl.Import
		}
	}
	return nil
}
