package config

import "reflect"

// Equal reports whether two configs ask for the same behaviour. Unlike
// reflect.DeepEqual on the configs themselves it ignores where each setting
// sat in the file, so that adding a comment is not a change.
func (c *Config) Equal(o *Config) bool {
	if c == nil || o == nil {
		return c == o
	}
	a, b := *c, *o
	a.lines, b.lines = nil, nil
	return reflect.DeepEqual(a, b)
}
