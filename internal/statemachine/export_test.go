package statemachine

// WithCrash sets the hook a test uses to stop a runner at each named
// crash point (see the Point constants).
func (d Deps) WithCrash(crash func(point string)) Deps {
	d.crash = crash
	return d
}

// WithIdling sets the hook a test uses to learn that the registered loop
// waits again, and how many kicks it has taken.
func (d Deps) WithIdling(idling func(kicksTaken int)) Deps {
	d.idling = idling
	return d
}
