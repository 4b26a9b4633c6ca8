package template

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"unicode/utf8"
)

// MaxBodyChars is the largest template body AWS accepts, in characters.
const MaxBodyChars = 10240

// Top-level sections of a provisioning template.
const (
	secParameters          = "Parameters"
	secMappings            = "Mappings"
	secResources           = "Resources"
	secDeviceConfiguration = "DeviceConfiguration"
)

type paramDef struct {
	name       string
	typ        string
	def        string
	hasDefault bool
}

type keyedNode struct {
	key  string
	path string
	n    node
}

// Parse checks a template body as AWS takes it (JSON, at most 10,240 characters) and
// compiles it. Everything AWS does not document for IoT templates (Conditions, Fn::If,
// Fn::GetAtt, unknown sections, resources or properties) is refused here, with the file
// name and the JSON path, as a *ParseError.
func Parse(file string, body []byte) (*Template, error) {
	c := &compiler{file: file}
	if !utf8.Valid(body) {
		return nil, c.errf("", "the template is not valid UTF-8")
	}
	if n := utf8.RuneCount(body); n > MaxBodyChars {
		return nil, c.errf("", "the template has %d characters, more than the %d AWS accepts", n, MaxBodyChars)
	}
	root, err := decodeJSON(body)
	if err != nil {
		return nil, c.errf("", "%v", err)
	}
	top, ok := root.(map[string]any)
	if !ok {
		return nil, c.errf("", "the template must be a JSON object, found %s", describe(root))
	}
	for _, k := range sortedKeys(top) {
		switch k {
		case secParameters, secMappings, secResources, secDeviceConfiguration:
		case "Conditions":
			return nil, c.errf(k, "Conditions are not supported in AWS IoT provisioning templates")
		default:
			return nil, c.errf(k, "unknown section (expected Parameters, Mappings, Resources or DeviceConfiguration)")
		}
	}
	t := &Template{}
	if t.params, c.byName, err = c.parameters(top[secParameters]); err != nil {
		return nil, err
	}
	if c.mappings, err = c.parseMappings(top[secMappings]); err != nil {
		return nil, err
	}
	if err := c.resources(t, top[secResources]); err != nil {
		return nil, err
	}
	if t.devConf, err = c.deviceConfiguration(top[secDeviceConfiguration]); err != nil {
		return nil, err
	}
	return t, nil
}

// decodeJSON reads exactly one JSON value, keeping numbers as written.
func decodeJSON(body []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty: no JSON value")
		}
		return nil, fmt.Errorf("invalid JSON: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("invalid JSON: data after the value at byte %d", dec.InputOffset())
	}
	return v, nil
}

// object checks that v is a JSON object (nil when the section is absent) and not an
// intrinsic function.
func (c *compiler) object(path string, v any) (map[string]any, error) {
	if v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, c.errf(path, "expected an object, found %s", describe(v))
	}
	if name, isFn := intrinsicName(m); isFn {
		return nil, c.errf(path, "expected an object, found %s (intrinsic functions are not allowed here)", name)
	}
	return m, nil
}

// parameters reads Parameters: the declared parameters the request supplies, and every
// declared parameter (certificate ones too) by name.
func (c *compiler) parameters(v any) ([]*paramDef, map[string]*paramDef, error) {
	m, err := c.object(secParameters, v)
	if err != nil {
		return nil, nil, err
	}
	list := make([]*paramDef, 0, len(m))
	byName := make(map[string]*paramDef, len(m))
	for _, name := range sortedKeys(m) {
		path := secParameters + "." + name
		if name == "" {
			return nil, nil, c.errf(path, "empty parameter name")
		}
		if _, special := specialParams[name]; !special && strings.HasPrefix(name, "AWS::") {
			return nil, nil, c.errf(path, "unknown AWS parameter (AWS fills only %s*)", certPrefix)
		}
		decl, err := c.object(path, m[name])
		if err != nil {
			return nil, nil, err
		}
		if decl == nil {
			return nil, nil, c.errf(path, "expected an object with Type, found null")
		}
		p := &paramDef{name: name}
		for _, k := range sortedKeys(decl) {
			switch k {
			case "Type":
				typ, ok := decl[k].(string)
				if !ok || (typ != "String" && typ != "Number") {
					return nil, nil, c.errf(path+".Type", "expected \"String\" or \"Number\", found %s", quoteOrDescribe(decl[k]))
				}
				p.typ = typ
			case "Default":
				s, ok := scalarText(decl[k])
				if _, isBool := decl[k].(bool); !ok || isBool {
					return nil, nil, c.errf(path+".Default", "expected a string or a number, found %s", describe(decl[k]))
				}
				p.def, p.hasDefault = s, true
			default:
				return nil, nil, c.errf(path+"."+k, "unknown parameter attribute (expected Type or Default)")
			}
		}
		if p.typ == "" {
			return nil, nil, c.errf(path, "missing Type")
		}
		if p.hasDefault && p.typ == "Number" && !isNumber(p.def) {
			return nil, nil, c.errf(path+".Default", "%q is not a number", p.def)
		}
		if _, special := specialParams[name]; !special {
			list = append(list, p)
		}
		byName[name] = p
	}
	return list, byName, nil
}

func quoteOrDescribe(v any) string {
	if s, ok := v.(string); ok {
		return fmt.Sprintf("%q", s)
	}
	return describe(v)
}

var numberRE = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// isNumber reports whether s is a number as a Number parameter takes it.
func isNumber(s string) bool { return numberRE.MatchString(s) }

// parseMappings reads Mappings: name -> top key -> second key -> string or list of strings.
// AWS takes no intrinsic functions inside Mappings.
func (c *compiler) parseMappings(v any) (mappings, error) {
	m, err := c.object(secMappings, v)
	if err != nil {
		return nil, err
	}
	out := make(mappings, len(m))
	for _, name := range sortedKeys(m) {
		p1 := secMappings + "." + name
		tops, err := c.mappingLevel(p1, m[name])
		if err != nil {
			return nil, err
		}
		out[name] = make(map[string]map[string]value, len(tops))
		for _, k1 := range sortedKeys(tops) {
			p2 := p1 + "." + k1
			seconds, err := c.mappingLevel(p2, tops[k1])
			if err != nil {
				return nil, err
			}
			out[name][k1] = make(map[string]value, len(seconds))
			for _, k2 := range sortedKeys(seconds) {
				val, err := c.mappingValue(p2+"."+k2, seconds[k2])
				if err != nil {
					return nil, err
				}
				out[name][k1][k2] = val
			}
		}
	}
	return out, nil
}

func (c *compiler) mappingLevel(path string, v any) (map[string]any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, c.errf(path, "expected an object, found %s", describe(v))
	}
	if name, isFn := intrinsicName(m); isFn {
		return nil, c.errf(path, "%s: intrinsic functions are not allowed in Mappings", name)
	}
	return m, nil
}

func (c *compiler) mappingValue(path string, v any) (value, error) {
	switch x := v.(type) {
	case map[string]any:
		if name, isFn := intrinsicName(x); isFn {
			return value{}, c.errf(path, "%s: intrinsic functions are not allowed in Mappings", name)
		}
		return value{}, c.errf(path, "Mappings have two levels of keys; expected a string or a list, found an object")
	case []any:
		list := make([]string, len(x))
		for i, item := range x {
			s, ok := scalarText(item)
			if !ok {
				return value{}, c.errf(fmt.Sprintf("%s[%d]", path, i), "expected a string, found %s", describe(item))
			}
			list[i] = s
		}
		return value{list: list, isList: true}, nil
	}
	s, ok := scalarText(v)
	if !ok {
		return value{}, c.errf(path, "expected a string or a list, found %s", describe(v))
	}
	return str(s), nil
}

// deviceConfiguration reads the flat map returned to the device; each value is an
// expression that evaluates to a string.
func (c *compiler) deviceConfiguration(v any) ([]keyedNode, error) {
	return c.keyedStrings(secDeviceConfiguration, v, nil)
}

// keyedStrings reads an object whose values are expressions that evaluate to strings, in
// key order. checkKey, if not nil, refuses a key with an error at its path.
func (c *compiler) keyedStrings(path string, v any, checkKey func(path, key string) error) ([]keyedNode, error) {
	m, err := c.object(path, v)
	if err != nil {
		return nil, err
	}
	out := make([]keyedNode, 0, len(m))
	for _, k := range sortedKeys(m) {
		kp := path + "." + k
		if checkKey != nil {
			if err := checkKey(kp, k); err != nil {
				return nil, err
			}
		}
		n, err := c.expr(kp, m[k], kindString)
		if err != nil {
			return nil, err
		}
		out = append(out, keyedNode{key: k, path: kp, n: n})
	}
	return out, nil
}
