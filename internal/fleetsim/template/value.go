package template

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// value is what an expression evaluates to: a string, or a list of strings
// (from Fn::Split, a literal list, or a list in Mappings).
type value struct {
	s      string
	list   []string
	isList bool
}

func str(s string) value { return value{s: s} }

// kind is what an expression is known to produce before evaluation.
type kind int

const (
	kindString kind = iota
	kindList
	kindAny // Fn::FindInMap: depends on the mapping entry
)

func (k kind) String() string {
	switch k {
	case kindString:
		return "a string"
	case kindList:
		return "a list"
	}
	return "a string or a list"
}

// accepts reports whether an expression of kind got may stand where want is expected.
func (want kind) accepts(got kind) bool {
	return got == kindAny || want == kindAny || got == want
}

// scalarText gives the text of a JSON scalar as a template value: strings as they are,
// numbers as written, booleans as true/false. ok is false for null, objects and arrays.
func scalarText(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}

// describe names a JSON value's type for error messages.
func describe(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return "an unknown value"
}

// mappings is a template's Mappings: mapping name, top key, second key, value.
type mappings map[string]map[string]map[string]value

// lookup follows keys, the mapping name and then up to two keys, as far as they go. When
// one is missing it returns its index among keys and an error naming it.
func (m mappings) lookup(keys ...string) (value, int, error) {
	if len(keys) == 0 {
		return value{}, 0, nil
	}
	top, ok := m[keys[0]]
	if !ok {
		return value{}, 0, fmt.Errorf("no mapping named %q in Mappings", keys[0])
	}
	if len(keys) == 1 {
		return value{}, 0, nil
	}
	second, ok := top[keys[1]]
	if !ok {
		return value{}, 1, fmt.Errorf("mapping %q has no key %q", keys[0], keys[1])
	}
	if len(keys) == 2 {
		return value{}, 0, nil
	}
	v, ok := second[keys[2]]
	if !ok {
		return value{}, 2, fmt.Errorf("mapping %q.%q has no key %q", keys[0], keys[1], keys[2])
	}
	return v, 0, nil
}
