package template

import (
	"fmt"
	"strconv"
	"strings"
)

// node is a compiled expression.
type node interface {
	eval(e *env) (value, error)
	kind() kind
}

// env is what one evaluation sees: the resolved declared parameters and the certificate,
// and what is left of its output budget.
type env struct {
	params map[string]string
	cert   CertificateInfo
	left   int
}

// MaxOutput bounds what one evaluation produces: an answer must fit in one MQTT message
// (128 KiB), and a short template that repeats a long parameter must not build more.
// Every value comes from a leaf (a literal, a parameter, a certificate field, a mapping)
// or a delimiter, so each is charged as it is evaluated, before anything is joined.
const MaxOutput = 128 << 10

// charge takes n bytes from the output budget; path names the expression that exceeds it.
func (e *env) charge(path string, n int) error {
	if e.left -= n; e.left < 0 {
		return evalErr(path, "the template's output is over %d bytes, more than one MQTT message can carry", MaxOutput)
	}
	return nil
}

func evalErr(path, format string, args ...any) error {
	return &EvalError{Path: path, Message: fmt.Sprintf(format, args...)}
}

// evalString evaluates n, which must give a string.
func evalString(e *env, path string, n node) (string, error) {
	v, err := n.eval(e)
	if err != nil {
		return "", err
	}
	if v.isList {
		return "", evalErr(path, "expected a string, found a list")
	}
	return v.s, nil
}

// evalList evaluates n, which must give a list.
func evalList(e *env, path string, n node) ([]string, error) {
	v, err := n.eval(e)
	if err != nil {
		return nil, err
	}
	if !v.isList {
		return nil, evalErr(path, "expected a list, found a string")
	}
	return v.list, nil
}

type litNode string

func (n litNode) eval(e *env) (value, error) {
	return str(string(n)), e.charge("a literal", len(n))
}
func (litNode) kind() kind { return kindString }

type listNode struct {
	path  string
	items []node
}

func (n *listNode) eval(e *env) (value, error) {
	out := make([]string, len(n.items))
	for i, item := range n.items {
		s, err := evalString(e, fmt.Sprintf("%s[%d]", n.path, i), item)
		if err != nil {
			return value{}, err
		}
		out[i] = s
	}
	return value{list: out, isList: true}, nil
}
func (*listNode) kind() kind { return kindList }

// refNode is a declared parameter, which Evaluate has resolved for the request.
type refNode string

func (n refNode) eval(e *env) (value, error) {
	v := e.params[string(n)]
	return str(v), e.charge(secParameters+"."+string(n), len(v))
}
func (refNode) kind() kind { return kindString }

// certRefNode is an AWS::IoT::Certificate::* parameter: the certificate's value, else the
// template's Default for it (def, nil when none).
type certRefNode struct {
	path, name string
	get        func(CertificateInfo) string
	def        *string
}

func (n *certRefNode) eval(e *env) (value, error) {
	if s := n.get(e.cert); s != "" {
		return str(s), e.charge(n.path, len(s))
	}
	if n.def != nil {
		return str(*n.def), e.charge(n.path, len(*n.def))
	}
	return value{}, evalErr(n.path, "%s is not available: the certificate has no such value", n.name)
}
func (*certRefNode) kind() kind { return kindString }

type joinNode struct {
	path  string
	delim string
	list  node
}

func (n *joinNode) eval(e *env) (value, error) {
	l, err := evalList(e, n.path+"[1]", n.list)
	if err != nil {
		return value{}, err
	}
	if len(l) > 1 {
		if err := e.charge(n.path, len(n.delim)*(len(l)-1)); err != nil {
			return value{}, err
		}
	}
	return str(strings.Join(l, n.delim)), nil
}
func (*joinNode) kind() kind { return kindString }

type selectNode struct {
	path        string
	index, list node
}

func (n *selectNode) eval(e *env) (value, error) {
	s, err := evalString(e, n.path+"[0]", n.index)
	if err != nil {
		return value{}, err
	}
	i, err := parseIndex(s)
	if err != nil {
		return value{}, evalErr(n.path+"[0]", "%v", err)
	}
	l, err := evalList(e, n.path+"[1]", n.list)
	if err != nil {
		return value{}, err
	}
	if i >= len(l) {
		return value{}, evalErr(n.path, "index %d is out of range for a list of %d", i, len(l))
	}
	return str(l[i]), nil
}
func (*selectNode) kind() kind { return kindString }

// parseIndex reads an Fn::Select index, written as a number or a string.
func parseIndex(s string) (int, error) {
	i, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || i < 0 {
		return 0, fmt.Errorf("the index must be a non-negative integer, found %q", s)
	}
	return i, nil
}

type splitNode struct {
	path  string
	delim string
	src   node
}

func (n *splitNode) eval(e *env) (value, error) {
	s, err := evalString(e, n.path+"[1]", n.src)
	if err != nil {
		return value{}, err
	}
	return value{list: strings.Split(s, n.delim), isList: true}, nil
}
func (*splitNode) kind() kind { return kindList }

type findInMapNode struct {
	path                 string
	mappings             mappings // the template's
	mapName, top, second node
}

func (n *findInMapNode) eval(e *env) (value, error) {
	var k [3]string
	for i, kn := range []node{n.mapName, n.top, n.second} {
		s, err := evalString(e, fmt.Sprintf("%s[%d]", n.path, i), kn)
		if err != nil {
			return value{}, err
		}
		k[i] = s
	}
	v, i, err := n.mappings.lookup(k[:]...)
	if err != nil {
		return value{}, evalErr(fmt.Sprintf("%s[%d]", n.path, i), "%v", err)
	}
	size := len(v.s)
	for _, item := range v.list {
		size += len(item)
	}
	return v, e.charge(n.path, size)
}
func (*findInMapNode) kind() kind { return kindAny }

type subNode struct {
	path  string
	parts []subPart
}

func (n *subNode) eval(e *env) (value, error) {
	var b strings.Builder
	for _, p := range n.parts {
		if p.v == nil {
			if err := e.charge(n.path, len(p.text)); err != nil {
				return value{}, err
			}
			b.WriteString(p.text)
			continue
		}
		s, err := evalString(e, n.path, p.v)
		if err != nil {
			return value{}, err
		}
		b.WriteString(s)
	}
	return str(b.String()), nil
}
func (*subNode) kind() kind { return kindString }
