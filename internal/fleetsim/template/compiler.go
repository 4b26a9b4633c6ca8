package template

import (
	"fmt"
	"sort"
	"strings"
)

// compiler turns the decoded JSON of one template into expression nodes, refusing what
// AWS does not take. It knows the declared parameters and mappings so that references
// are checked once, at load time.
type compiler struct {
	file     string
	byName   map[string]*paramDef
	mappings mappings
}

func (c *compiler) errf(path, format string, args ...any) error {
	return &ParseError{File: c.file, Path: path, Message: fmt.Sprintf(format, args...)}
}

// Names of the parameters the service fills from the certificate.
const (
	certPrefix   = "AWS::IoT::Certificate::"
	certIDParam  = certPrefix + "Id"
	intrinsicRef = "Ref"
)

var specialParams = map[string]func(CertificateInfo) string{
	certPrefix + "Id":                         func(c CertificateInfo) string { return c.ID },
	certPrefix + "CommonName":                 func(c CertificateInfo) string { return c.CommonName },
	certPrefix + "Country":                    func(c CertificateInfo) string { return c.Country },
	certPrefix + "Organization":               func(c CertificateInfo) string { return c.Organization },
	certPrefix + "OrganizationalUnit":         func(c CertificateInfo) string { return c.OrganizationalUnit },
	certPrefix + "DistinguishedNameQualifier": func(c CertificateInfo) string { return c.DistinguishedNameQualifier },
	certPrefix + "StateName":                  func(c CertificateInfo) string { return c.StateName },
	certPrefix + "SerialNumber":               func(c CertificateInfo) string { return c.SerialNumber },
}

// intrinsicName returns the function an object calls, if it is written as one: a key "Ref"
// or starting with "Fn::". ok is false for a plain object.
func intrinsicName(m map[string]any) (name string, ok bool) {
	for k := range m {
		// The smallest such key, so that errors about an object with several are stable.
		if (k == intrinsicRef || strings.HasPrefix(k, "Fn::")) && (!ok || k < name) {
			name, ok = k, true
		}
	}
	return name, ok
}

// sortedKeys gives a map's keys in order so that errors and outputs are deterministic.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// expr compiles a value where an expression of kind want is expected: a JSON scalar, a
// literal list (only where a list is wanted) or an intrinsic function.
func (c *compiler) expr(path string, v any, want kind) (node, error) {
	switch x := v.(type) {
	case []any:
		if want == kindString {
			return nil, c.errf(path, "expected a string, found a list")
		}
		items := make([]node, len(x))
		for i, item := range x {
			n, err := c.expr(fmt.Sprintf("%s[%d]", path, i), item, kindString)
			if err != nil {
				return nil, err
			}
			items[i] = n
		}
		return &listNode{path: path, items: items}, nil
	case map[string]any:
		name, ok := intrinsicName(x)
		if !ok {
			return nil, c.errf(path, "expected %s, found an object", want)
		}
		n, err := c.intrinsic(path, x, name)
		if err != nil {
			return nil, err
		}
		if !want.accepts(n.kind()) {
			return nil, c.errf(path, "%s gives %s where %s is expected", name, n.kind(), want)
		}
		return n, nil
	}
	s, ok := scalarText(v)
	if !ok {
		return nil, c.errf(path, "expected %s, found %s", want, describe(v))
	}
	if want == kindList {
		return nil, c.errf(path, "expected a list, found %s", describe(v))
	}
	return litNode(s), nil
}

// intrinsic compiles one intrinsic function object.
func (c *compiler) intrinsic(path string, m map[string]any, name string) (node, error) {
	if len(m) != 1 {
		return nil, c.errf(path, "%s must be the only key of its object", name)
	}
	arg := m[name]
	p := path + "." + name
	switch name {
	case intrinsicRef:
		return c.ref(p, arg)
	case "Fn::Join":
		return c.join(p, arg)
	case "Fn::Select":
		return c.selectFn(p, arg)
	case "Fn::Split":
		return c.split(p, arg)
	case "Fn::FindInMap":
		return c.findInMap(p, arg)
	case "Fn::Sub":
		return c.sub(p, arg)
	}
	return nil, c.errf(path, "%s is not supported in AWS IoT provisioning templates", name)
}

func (c *compiler) ref(path string, arg any) (node, error) {
	name, ok := arg.(string)
	if !ok {
		return nil, c.errf(path, "expected a parameter name, found %s", describe(arg))
	}
	return c.paramRef(path, name)
}

// paramRef compiles a reference to a parameter: one the service fills from the
// certificate, with its Default if the template declares one, or a declared parameter,
// which the request supplies.
func (c *compiler) paramRef(path, name string) (node, error) {
	p, declared := c.byName[name]
	if get, special := specialParams[name]; special {
		n := &certRefNode{path: path, name: name, get: get}
		if declared && p.hasDefault {
			n.def = &p.def
		}
		return n, nil
	}
	if !declared {
		return nil, c.errf(path, "%q is not a parameter of this template", name)
	}
	return refNode(name), nil
}

// args checks that an intrinsic's argument is a list of n items.
func (c *compiler) args(path string, arg any, n int) ([]any, error) {
	list, ok := arg.([]any)
	if !ok || len(list) != n {
		return nil, c.errf(path, "expected a list of %d arguments, found %s", n, argDesc(arg))
	}
	return list, nil
}

func argDesc(v any) string {
	if l, ok := v.([]any); ok {
		return fmt.Sprintf("a list of %d", len(l))
	}
	return describe(v)
}

func (c *compiler) join(path string, arg any) (node, error) {
	a, err := c.args(path, arg, 2)
	if err != nil {
		return nil, err
	}
	delim, ok := a[0].(string)
	if !ok {
		return nil, c.errf(path+"[0]", "the delimiter must be a string, found %s", describe(a[0]))
	}
	list, err := c.expr(path+"[1]", a[1], kindList)
	if err != nil {
		return nil, err
	}
	return &joinNode{path: path, delim: delim, list: list}, nil
}

func (c *compiler) selectFn(path string, arg any) (node, error) {
	a, err := c.args(path, arg, 2)
	if err != nil {
		return nil, err
	}
	var index node
	if s, ok := scalarText(a[0]); ok {
		if _, ok := a[0].(bool); ok {
			return nil, c.errf(path+"[0]", "the index must be a number, found a boolean")
		}
		if _, err := parseIndex(s); err != nil {
			return nil, c.errf(path+"[0]", "%v", err)
		}
		index = litNode(s)
	} else if index, err = c.expr(path+"[0]", a[0], kindString); err != nil {
		return nil, err
	}
	list, err := c.expr(path+"[1]", a[1], kindList)
	if err != nil {
		return nil, err
	}
	return &selectNode{path: path, index: index, list: list}, nil
}

func (c *compiler) split(path string, arg any) (node, error) {
	a, err := c.args(path, arg, 2)
	if err != nil {
		return nil, err
	}
	delim, ok := a[0].(string)
	if !ok || delim == "" {
		return nil, c.errf(path+"[0]", "the delimiter must be a non-empty string, found %s", describe(a[0]))
	}
	src, err := c.expr(path+"[1]", a[1], kindString)
	if err != nil {
		return nil, err
	}
	return &splitNode{path: path, delim: delim, src: src}, nil
}

func (c *compiler) findInMap(path string, arg any) (node, error) {
	a, err := c.args(path, arg, 3)
	if err != nil {
		return nil, err
	}
	var keys [3]node
	for i := range a {
		if keys[i], err = c.expr(fmt.Sprintf("%s[%d]", path, i), a[i], kindString); err != nil {
			return nil, err
		}
	}
	// The leading literal names are checked now; names built from parameters, and those
	// after them, are checked per request.
	var lits []string
	for _, k := range keys {
		lit, ok := k.(litNode)
		if !ok {
			break
		}
		lits = append(lits, string(lit))
	}
	if _, i, err := c.mappings.lookup(lits...); err != nil {
		return nil, c.errf(fmt.Sprintf("%s[%d]", path, i), "%v", err)
	}
	return &findInMapNode{path: path, mappings: c.mappings, mapName: keys[0], top: keys[1], second: keys[2]}, nil
}
