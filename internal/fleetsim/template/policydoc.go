package template

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// docNode is an inline policy document, which may hold intrinsic functions.
type docNode interface {
	build(e *env) (any, error)
}

// docLit is a part with no intrinsic function in it.
type docLit struct{ v any }

func (d docLit) build(*env) (any, error) { return d.v, nil }

type docObj map[string]docNode

func (d docObj) build(e *env) (any, error) {
	out := make(map[string]any, len(d))
	for k, n := range d {
		v, err := n.build(e)
		if err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, nil
}

type docArr []docNode

func (d docArr) build(e *env) (any, error) {
	out := make([]any, len(d))
	for i, n := range d {
		v, err := n.build(e)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// docExpr is an intrinsic function inside a document: a string, or a list of strings.
type docExpr struct{ n node }

func (d docExpr) build(e *env) (any, error) {
	v, err := d.n.eval(e)
	if err != nil {
		return nil, err
	}
	if v.isList {
		return v.list, nil
	}
	return v.s, nil
}

// policyDocument compiles PolicyDocument, given either as a JSON string (AWS's samples) or
// as an inline object, which is turned into its JSON text.
func (c *compiler) policyDocument(d *policyDef, path string, v any) error {
	if m, ok := v.(map[string]any); ok {
		if _, isFn := intrinsicName(m); !isFn {
			doc, err := c.doc(path, m)
			if err != nil {
				return err
			}
			if lit, static := doc.(docLit); static {
				text, err := marshalDoc(lit.v)
				if err != nil {
					return c.errf(path, "%v", err)
				}
				d.docText = litNode(text)
				return nil
			}
			d.doc = doc
			return nil
		}
	}
	n, err := c.expr(path, v, kindString)
	if err != nil {
		return err
	}
	if lit, ok := n.(litNode); ok {
		if err := checkPolicyText(string(lit)); err != nil {
			return c.errf(path, "%v", err)
		}
	}
	d.docText = n
	return nil
}

// doc compiles a part of an inline document; parts without intrinsics collapse to docLit.
func (c *compiler) doc(path string, v any) (docNode, error) {
	switch x := v.(type) {
	case map[string]any:
		if _, isFn := intrinsicName(x); isFn {
			n, err := c.expr(path, x, kindAny)
			if err != nil {
				return nil, err
			}
			return docExpr{n: n}, nil
		}
		obj, static := make(docObj, len(x)), true
		for _, k := range sortedKeys(x) {
			n, err := c.doc(path+"."+k, x[k])
			if err != nil {
				return nil, err
			}
			_, isLit := n.(docLit)
			static = static && isLit
			obj[k] = n
		}
		if static {
			return docLit{v: x}, nil
		}
		return obj, nil
	case []any:
		arr, static := make(docArr, len(x)), true
		for i, item := range x {
			n, err := c.doc(fmt.Sprintf("%s[%d]", path, i), item)
			if err != nil {
				return nil, err
			}
			_, isLit := n.(docLit)
			static = static && isLit
			arr[i] = n
		}
		if static {
			return docLit{v: x}, nil
		}
		return arr, nil
	}
	return docLit{v: v}, nil
}

// marshalDoc writes a policy document as compact JSON, keeping policy variables like
// ${iot:ClientId} and characters like & as they are.
func marshalDoc(v any) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", fmt.Errorf("cannot write the policy document: %v", err)
	}
	return string(bytes.TrimSuffix(b.Bytes(), []byte("\n"))), nil
}

// checkPolicyText checks that a policy document given as text is a JSON object.
func checkPolicyText(s string) error {
	v, err := decodeJSON([]byte(s))
	if err != nil {
		return fmt.Errorf("the policy document is not JSON: %v", err)
	}
	if _, ok := v.(map[string]any); !ok {
		return fmt.Errorf("the policy document must be a JSON object, found %s", describe(v))
	}
	return nil
}
