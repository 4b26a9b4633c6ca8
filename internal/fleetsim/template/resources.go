package template

import (
	"strings"
)

// Resource types a provisioning template may declare.
const (
	typeThing       = "AWS::IoT::Thing"
	typeCertificate = "AWS::IoT::Certificate"
	typePolicy      = "AWS::IoT::Policy"
)

type thingDef struct {
	path      string // Resources.<logical ID>.Properties
	name      node
	attrs     []keyedNode
	thingType node // nil when not set, like groups and billing
	groups    node
	billing   node
	overrides map[string]string // one entry per property set
}

type certDef struct {
	path   string
	status node
}

type policyDef struct {
	path    string
	name    node // exactly one of name, doc and docText is set
	doc     docNode
	docText node
}

func (c *compiler) resources(t *Template, v any) error {
	if v == nil {
		return c.errf("", "missing Resources section")
	}
	m, err := c.object(secResources, v)
	if err != nil {
		return err
	}
	for _, id := range sortedKeys(m) {
		path := secResources + "." + id
		res, err := c.object(path, m[id])
		if err != nil {
			return err
		}
		if res == nil {
			return c.errf(path, "expected a resource object, found null")
		}
		for _, k := range sortedKeys(res) {
			switch k {
			case "Type", "Properties", "OverrideSettings":
			case "Condition":
				return c.errf(path+".Condition", "Conditions are not supported in AWS IoT provisioning templates")
			default:
				return c.errf(path+"."+k, "unknown resource attribute (expected Type, Properties or OverrideSettings)")
			}
		}
		typ, ok := res["Type"].(string)
		if !ok {
			return c.errf(path+".Type", "expected a resource type, found %s", describe(res["Type"]))
		}
		props, err := c.object(path+".Properties", res["Properties"])
		if err != nil {
			return err
		}
		if typ != typeThing && res["OverrideSettings"] != nil {
			return c.errf(path+".OverrideSettings", "OverrideSettings apply only to %s", typeThing)
		}
		switch typ {
		case typeThing:
			if t.thing != nil {
				return c.errf(path, "a template may declare only one %s", typeThing)
			}
			t.thing, err = c.thing(path, props, res["OverrideSettings"])
		case typeCertificate:
			if t.cert != nil {
				return c.errf(path, "a template may declare only one %s", typeCertificate)
			}
			t.cert, err = c.certificate(path, props)
		case typePolicy:
			var p *policyDef
			p, err = c.policy(path, props)
			t.policies = append(t.policies, p)
		default:
			return c.errf(path+".Type", "unknown resource type %q (expected %s, %s or %s)", typ, typeThing, typeCertificate, typePolicy)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (c *compiler) thing(path string, props map[string]any, overrides any) (*thingDef, error) {
	pp := path + ".Properties"
	d := &thingDef{path: pp, overrides: map[string]string{}}
	var err error
	for _, k := range sortedKeys(props) {
		kp := pp + "." + k
		switch k {
		case "ThingName":
			d.name, err = c.expr(kp, props[k], kindString)
		case PropAttributePayload:
			d.attrs, err = c.attributes(kp, props[k])
		case PropThingTypeName:
			d.thingType, err = c.expr(kp, props[k], kindString)
		case PropThingGroups:
			d.groups, err = c.expr(kp, props[k], kindList)
		case PropBillingGroup:
			d.billing, err = c.expr(kp, props[k], kindString)
		default:
			return nil, c.errf(kp, "unknown %s property (expected ThingName, AttributePayload, ThingTypeName, ThingGroups or BillingGroup)", typeThing)
		}
		if err != nil {
			return nil, err
		}
		if k != "ThingName" {
			d.overrides[k] = DoNothing
		}
	}
	if d.name == nil {
		return nil, c.errf(pp+".ThingName", "missing (an %s needs a ThingName)", typeThing)
	}
	set, err := c.overrideSettings(path+".OverrideSettings", overrides)
	if err != nil {
		return nil, err
	}
	for prop, o := range set {
		// A setting for a property the template does not set has nothing to apply.
		if _, isSet := d.overrides[prop]; isSet {
			d.overrides[prop] = o
		}
	}
	return d, nil
}

func (c *compiler) attributes(path string, v any) ([]keyedNode, error) {
	return c.keyedStrings(path, v, func(kp, k string) error {
		if !attrNameChars.Match(k) {
			return c.errf(kp, "invalid attribute name (1-128 characters of [a-zA-Z0-9_.,@/:#-])")
		}
		return nil
	})
}

func (c *compiler) overrideSettings(path string, v any) (map[string]string, error) {
	m, err := c.object(path, v)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(m))
	for _, k := range sortedKeys(m) {
		kp := path + "." + k
		if !overrideProperty[k] {
			return nil, c.errf(kp, "unknown property (OverrideSettings take AttributePayload, ThingTypeName, ThingGroups or BillingGroup)")
		}
		s, ok := m[k].(string)
		switch {
		case !ok:
			return nil, c.errf(kp, "expected DO_NOTHING, REPLACE, FAIL or MERGE, found %s", describe(m[k]))
		case s == Merge && k != PropAttributePayload && k != PropThingGroups:
			return nil, c.errf(kp, "MERGE applies only to AttributePayload and ThingGroups")
		case s != DoNothing && s != Replace && s != Fail && s != Merge:
			return nil, c.errf(kp, "expected DO_NOTHING, REPLACE, FAIL or MERGE, found %q", s)
		}
		out[k] = s
	}
	return out, nil
}

func (c *compiler) certificate(path string, props map[string]any) (*certDef, error) {
	pp := path + ".Properties"
	d := &certDef{path: pp + ".Status", status: litNode("ACTIVE")}
	for _, k := range sortedKeys(props) {
		kp := pp + "." + k
		switch k {
		case "CertificateId":
			ref, ok := props[k].(map[string]any)
			if !ok || len(ref) != 1 || ref[intrinsicRef] != certIDParam {
				return nil, c.errf(kp, `must be {"Ref": "%s"} in a fleet provisioning template`, certIDParam)
			}
		case "Status":
			n, err := c.expr(kp, props[k], kindString)
			if err != nil {
				return nil, err
			}
			if lit, ok := n.(litNode); ok {
				if _, ok := certStatus(string(lit)); !ok {
					return nil, c.errf(kp, "expected ACTIVE or INACTIVE, found %q", string(lit))
				}
			}
			d.status = n
		default:
			return nil, c.errf(kp, "unknown %s property in a fleet provisioning template (expected CertificateId or Status)", typeCertificate)
		}
	}
	if props["CertificateId"] == nil {
		return nil, c.errf(pp+".CertificateId", `missing (expected {"Ref": "%s"})`, certIDParam)
	}
	return d, nil
}

// certStatus normalises a certificate status; AWS takes it in any case (its samples write Active).
func certStatus(s string) (string, bool) {
	u := strings.ToUpper(s)
	return u, u == "ACTIVE" || u == "INACTIVE"
}

func (c *compiler) policy(path string, props map[string]any) (*policyDef, error) {
	pp := path + ".Properties"
	d := &policyDef{path: pp}
	for _, k := range sortedKeys(props) {
		kp := pp + "." + k
		var err error
		switch k {
		case "PolicyName":
			d.name, err = c.expr(kp, props[k], kindString)
		case "PolicyDocument":
			err = c.policyDocument(d, kp, props[k])
		default:
			return nil, c.errf(kp, "unknown %s property (expected PolicyName or PolicyDocument)", typePolicy)
		}
		if err != nil {
			return nil, err
		}
	}
	hasDoc := d.doc != nil || d.docText != nil
	if (d.name != nil) == hasDoc {
		return nil, c.errf(pp, "an %s needs exactly one of PolicyName or PolicyDocument", typePolicy)
	}
	return d, nil
}
