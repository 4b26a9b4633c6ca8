package template

import (
	"fmt"
	"maps"
	"slices"
	"sort"
)

// Apply gives the thing to store: spec's thing for a new thing (existing nil), otherwise
// existing with each property the template sets treated by its override setting:
// DO_NOTHING keeps the existing value, REPLACE takes the template's, FAIL returns a
// *ConflictError when the existing value differs from the template's (an unset value
// counts as different from a set one, and groups compare as sets), and MERGE adds the
// template's attributes (the template wins on a shared key) or groups to the existing
// ones. The thing's name never changes. Neither spec nor existing is modified.
func (s ThingSpec) Apply(existing *Thing) (Thing, error) {
	if existing == nil {
		return s.Thing.clone(), nil
	}
	out, want := existing.clone(), s.Thing.clone()
	for _, prop := range sortedKeys(s.Overrides) {
		mode := s.Overrides[prop]
		var err error
		switch prop {
		case PropAttributePayload:
			err = applyProp(prop, mode, &out.Attributes, want.Attributes, maps.Equal, mergeAttrs)
		case PropThingGroups:
			err = applyProp(prop, mode, &out.Groups, want.Groups, sameSet, mergeGroups)
		case PropThingTypeName:
			err = applyProp(prop, mode, &out.ThingType, want.ThingType, eq, nil)
		case PropBillingGroup:
			err = applyProp(prop, mode, &out.BillingGroup, want.BillingGroup, eq, nil)
		default:
			err = fmt.Errorf("unknown thing property %q in OverrideSettings", prop)
		}
		if err != nil {
			return Thing{}, err
		}
	}
	return out, nil
}

// applyProp updates one property of *cur with the template's value want by mode.
// merge is nil for properties that cannot merge.
func applyProp[T any](prop, mode string, cur *T, want T, equal func(a, b T) bool, merge func(a, b T) T) error {
	switch {
	case mode == DoNothing:
	case mode == Replace:
		*cur = want
	case mode == Fail:
		if !equal(*cur, want) {
			return &ConflictError{Property: prop, Message: fmt.Sprintf(
				"the thing already exists with a different %s and OverrideSettings say FAIL", prop)}
		}
	case mode == Merge && merge != nil:
		*cur = merge(*cur, want)
	default:
		return fmt.Errorf("override setting %q is not valid for %s", mode, prop)
	}
	return nil
}

func eq(a, b string) bool { return a == b }

func sameSet(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	sort.Strings(x)
	sort.Strings(y)
	return slices.Equal(slices.Compact(x), slices.Compact(y))
}

func mergeAttrs(cur, add map[string]string) map[string]string {
	out := make(map[string]string, len(cur)+len(add))
	maps.Copy(out, cur)
	maps.Copy(out, add)
	return out
}

func mergeGroups(cur, add []string) []string {
	out := slices.Clone(cur)
	for _, g := range add {
		if !slices.Contains(out, g) {
			out = append(out, g)
		}
	}
	return out
}

// clone copies a thing so that callers never share maps or slices with a spec.
func (t Thing) clone() Thing {
	out := t
	out.Attributes = maps.Clone(t.Attributes)
	out.Groups = slices.Clone(t.Groups)
	return out
}
