package template

// Name rules of the AWS IoT registry, checked on evaluated values because AWS refuses a
// provisioning request whose template produces a name the registry does not take. They are
// byte tables rather than regular expressions: they run on every request.
var (
	thingNameChars    = charset{min: 1, max: 128, set: chars(`:_-`)} // things, types, groups, billing groups
	attrNameChars     = charset{min: 1, max: 128, set: chars(`_.,@/:#-`)}
	attrValueChars    = charset{min: 0, max: 800, set: chars(`_.,@/:#=[]-`)}
	policyNameChars   = charset{min: 1, max: 128, set: chars(`_+=,.@-`)}
	templateNameChars = charset{min: 1, max: 36, set: chars(`_-`)}

	overrideProperty = map[string]bool{
		PropAttributePayload: true, PropThingTypeName: true, PropThingGroups: true, PropBillingGroup: true,
	}
)

// charset accepts strings of min to max bytes, each in set.
type charset struct {
	min, max int
	set      *[256]bool
}

// chars is the ASCII letters and digits plus extra.
func chars(extra string) *[256]bool {
	var t [256]bool
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for i := 0; i < len(extra); i++ {
		t[extra[i]] = true
	}
	return &t
}

func (c charset) Match(s string) bool {
	if len(s) < c.min || len(s) > c.max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !c.set[s[i]] {
			return false
		}
	}
	return true
}

// ValidTemplateName reports whether name is a template name AWS takes: 1-36 characters
// of [0-9A-Za-z_-].
func ValidTemplateName(name string) bool { return templateNameChars.Match(name) }
