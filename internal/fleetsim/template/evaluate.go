package template

import (
	"maps"
	"slices"
)

// Evaluate resolves parameters (with their Default), Mappings and intrinsic functions for
// one request and returns what to provision. Errors are *EvalError, naming the path and
// what was wrong. Parameters the template does not declare are ignored, as AWS does.
func (t *Template) Evaluate(in Input) (*Result, error) {
	e := &env{params: make(map[string]string, len(t.params)), cert: in.Certificate, left: MaxOutput}
	for _, p := range t.params {
		v, given := in.Parameters[p.name]
		switch {
		case given:
		case p.hasDefault:
			v = p.def
		default:
			return nil, evalErr(secParameters+"."+p.name, "parameter %s is required and was not provided", p.name)
		}
		if p.typ == "Number" && !isNumber(v) {
			return nil, evalErr(secParameters+"."+p.name, "parameter %s must be a number, found %q", p.name, v)
		}
		e.params[p.name] = v
	}
	r := &Result{DeviceConfiguration: make(map[string]string, len(t.devConf))}
	var err error
	if t.thing != nil {
		if r.Thing, err = t.thing.eval(e); err != nil {
			return nil, err
		}
	}
	if t.cert != nil {
		s, err := evalString(e, t.cert.path, t.cert.status)
		if err != nil {
			return nil, err
		}
		status, ok := certStatus(s)
		if !ok {
			return nil, evalErr(t.cert.path, "expected ACTIVE or INACTIVE, found %q", s)
		}
		r.Certificate = &CertificateSpec{Status: status}
	}
	for _, p := range t.policies {
		spec, err := p.eval(e)
		if err != nil {
			return nil, err
		}
		r.Policies = append(r.Policies, spec)
	}
	for _, kv := range t.devConf {
		if r.DeviceConfiguration[kv.key], err = evalString(e, kv.path, kv.n); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func (d *thingDef) eval(e *env) (*ThingSpec, error) {
	name, err := evalName(e, d.path+".ThingName", d.name, "thing name")
	if err != nil {
		return nil, err
	}
	spec := &ThingSpec{Thing: Thing{Name: name}, Overrides: maps.Clone(d.overrides)}
	if _, set := d.overrides[PropAttributePayload]; set {
		spec.Thing.Attributes = make(map[string]string, len(d.attrs))
		for _, kv := range d.attrs {
			v, err := evalString(e, kv.path, kv.n)
			if err != nil {
				return nil, err
			}
			if !attrValueChars.Match(v) {
				return nil, evalErr(kv.path, "%q is not a valid attribute value (up to 800 characters of [a-zA-Z0-9_.,@/:#=[]-])", v)
			}
			spec.Thing.Attributes[kv.key] = v
		}
	}
	if spec.Thing.ThingType, err = evalName(e, d.path+"."+PropThingTypeName, d.thingType, "name"); err != nil {
		return nil, err
	}
	if spec.Thing.BillingGroup, err = evalName(e, d.path+"."+PropBillingGroup, d.billing, "name"); err != nil {
		return nil, err
	}
	if d.groups != nil {
		path := d.path + "." + PropThingGroups
		groups, err := evalList(e, path, d.groups)
		if err != nil {
			return nil, err
		}
		spec.Thing.Groups = make([]string, 0, len(groups))
		for _, g := range groups {
			if !thingNameChars.Match(g) {
				return nil, evalErr(path, "%q is not a valid thing group name (1-128 characters of [a-zA-Z0-9:_-])", g)
			}
			if !slices.Contains(spec.Thing.Groups, g) {
				spec.Thing.Groups = append(spec.Thing.Groups, g)
			}
		}
	}
	return spec, nil
}

// evalName evaluates a registry name (thing, thing type, billing group), "" if n is nil;
// what names it in errors.
func evalName(e *env, path string, n node, what string) (string, error) {
	if n == nil {
		return "", nil
	}
	s, err := evalString(e, path, n)
	if err != nil {
		return "", err
	}
	if !thingNameChars.Match(s) {
		return "", evalErr(path, "%q is not a valid %s (1-128 characters of [a-zA-Z0-9:_-])", s, what)
	}
	return s, nil
}

func (d *policyDef) eval(e *env) (PolicySpec, error) {
	switch {
	case d.name != nil:
		name, err := evalString(e, d.path+".PolicyName", d.name)
		if err != nil {
			return PolicySpec{}, err
		}
		if !policyNameChars.Match(name) {
			return PolicySpec{}, evalErr(d.path+".PolicyName", "%q is not a valid policy name (1-128 characters of [a-zA-Z0-9_+=,.@-])", name)
		}
		return PolicySpec{Name: name}, nil
	case d.doc != nil:
		v, err := d.doc.build(e)
		if err != nil {
			return PolicySpec{}, err
		}
		text, err := marshalDoc(v)
		if err != nil {
			return PolicySpec{}, evalErr(d.path+".PolicyDocument", "%v", err)
		}
		return PolicySpec{Document: text}, nil
	}
	text, err := evalString(e, d.path+".PolicyDocument", d.docText)
	if err != nil {
		return PolicySpec{}, err
	}
	if _, static := d.docText.(litNode); !static {
		if err := checkPolicyText(text); err != nil {
			return PolicySpec{}, evalErr(d.path+".PolicyDocument", "%v", err)
		}
	}
	return PolicySpec{Document: text}, nil
}
