package statemachine

// WithCrash sets the hook a test uses to stop a runner at each named
// crash point (see the Point constants).
func (d Deps) WithCrash(crash func(point string)) Deps {
	d.crash = crash
	return d
}
