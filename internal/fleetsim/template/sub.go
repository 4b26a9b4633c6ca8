package template

import (
	"strings"
)

// subPart is a piece of an Fn::Sub string: literal text, or a variable to substitute.
type subPart struct {
	text string
	v    node // nil for literal text
}

// sub compiles Fn::Sub, written either "string" or ["string", {"Var": value}].
// ${Name} names a local variable, a parameter or an AWS::IoT::Certificate::* parameter;
// ${!Text} stands for the literal ${Text}, as in AWS.
func (c *compiler) sub(path string, arg any) (node, error) {
	var (
		body string
		vars map[string]node
	)
	switch a := arg.(type) {
	case string:
		body = a
	case []any:
		if len(a) != 2 {
			return nil, c.errf(path, "expected a string or a list of 2 arguments, found %s", argDesc(arg))
		}
		s, ok := a[0].(string)
		if !ok {
			return nil, c.errf(path+"[0]", "expected a string, found %s", describe(a[0]))
		}
		m, ok := a[1].(map[string]any)
		if !ok {
			return nil, c.errf(path+"[1]", "expected an object of variables, found %s", describe(a[1]))
		}
		if name, isFn := intrinsicName(m); isFn {
			return nil, c.errf(path+"[1]", "expected an object of variables, found %s", name)
		}
		body, vars = s, make(map[string]node, len(m))
		for _, k := range sortedKeys(m) {
			n, err := c.expr(path+"[1]."+k, m[k], kindString)
			if err != nil {
				return nil, err
			}
			vars[k] = n
		}
	default:
		return nil, c.errf(path, "expected a string or a list of 2 arguments, found %s", describe(arg))
	}
	parts, err := c.subParts(path, body, vars)
	if err != nil {
		return nil, err
	}
	return &subNode{path: path, parts: parts}, nil
}

func (c *compiler) subParts(path, body string, vars map[string]node) ([]subPart, error) {
	var (
		parts []subPart
		lit   strings.Builder
	)
	for {
		i := strings.Index(body, "${")
		if i < 0 {
			lit.WriteString(body)
			break
		}
		lit.WriteString(body[:i])
		end := strings.IndexByte(body[i:], '}')
		if end < 0 {
			return nil, c.errf(path, "unterminated ${ in %q", body[i:])
		}
		name := body[i+2 : i+end]
		body = body[i+end+1:]
		if strings.HasPrefix(name, "!") {
			lit.WriteString("${" + name[1:] + "}")
			continue
		}
		n, err := c.subVar(path, name, vars)
		if err != nil {
			return nil, err
		}
		if lit.Len() > 0 {
			parts = append(parts, subPart{text: lit.String()})
			lit.Reset()
		}
		parts = append(parts, subPart{v: n})
	}
	if lit.Len() > 0 {
		parts = append(parts, subPart{text: lit.String()})
	}
	return parts, nil
}

func (c *compiler) subVar(path, name string, vars map[string]node) (node, error) {
	name = strings.TrimSpace(name)
	if n, ok := vars[name]; ok {
		return n, nil
	}
	if name == "" {
		return nil, c.errf(path, "empty variable ${} in Fn::Sub")
	}
	if _, isParam := c.byName[name]; !isParam && strings.Contains(name, ".") {
		return nil, c.errf(path, "${%s}: resource attributes are not supported (Fn::GetAtt is not supported)", name)
	}
	return c.paramRef(path, name)
}
