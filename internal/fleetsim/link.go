package fleetsim

import "github.com/provisiond/provisiond/internal/fleetsim/link"

// Link emulates a network link on every connection (see package link).
type Link = link.Params

// TraceEvent is one line of the packet trace (Options.Trace).
type TraceEvent = link.TraceEvent

// ReadTrace parses a packet trace written by the emulator.
var ReadTrace = link.ReadTrace
