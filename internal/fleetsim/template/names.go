package template

import "regexp"

// Name rules of the AWS IoT registry, checked on evaluated values because AWS refuses a
// provisioning request whose template produces a name the registry does not take.
var (
	thingNameRE      = regexp.MustCompile(`^[a-zA-Z0-9:_-]{1,128}$`) // things, types, groups, billing groups
	attrNameRE       = regexp.MustCompile(`^[a-zA-Z0-9_.,@/:#-]{1,128}$`)
	attrValueRE      = regexp.MustCompile(`^[a-zA-Z0-9_.,@/:#=\[\]-]{0,800}$`)
	policyNameRE     = regexp.MustCompile(`^[\w+=,.@-]{1,128}$`)
	templateNameRE   = regexp.MustCompile(`^[0-9A-Za-z_-]{1,36}$`)
	overrideProperty = map[string]bool{
		PropAttributePayload: true, PropThingTypeName: true, PropThingGroups: true, PropBillingGroup: true,
	}
)

// ValidTemplateName reports whether name is a template name AWS takes: 1-36 characters
// of [0-9A-Za-z_-].
func ValidTemplateName(name string) bool { return templateNameRE.MatchString(name) }
