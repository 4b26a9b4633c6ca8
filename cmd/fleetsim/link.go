package main

import (
	"flag"
	"fmt"

	"github.com/provisiond/provisiond/internal/fleetsim"
)

// linkFlags adds --link-rtt, --link-jitter, --link-loss and --link-stall,
// shared by serve and storm.
func linkFlags(fs *flag.FlagSet) *fleetsim.Link {
	l := &fleetsim.Link{}
	fs.DurationVar(&l.RTT, "link-rtt", 0, "emulate a link of this round-trip time (each direction RTT/2, TCP handshake one RTT)")
	fs.DurationVar(&l.Jitter, "link-jitter", 0, "add up to this much delay to each direction, bytes kept in order")
	fs.Float64Var(&l.Loss, "link-loss", 0, "probability (0-1) that a device's request drops its connection")
	fs.Float64Var(&l.Stall, "link-stall", 0, "probability (0-1) that a device's CONNECT or request leaves its connection half-open: silent, no FIN or RST")
	return l
}

// checkLink refuses a negative delay, or a loss or stall outside 0..1, naming the flags.
func checkLink(l fleetsim.Link) error {
	if err := l.Validate(); err != nil {
		return usageError{fmt.Errorf("%w (--link-rtt, --link-jitter, --link-loss, --link-stall)", err)}
	}
	return nil
}
