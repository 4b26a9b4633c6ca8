package fleetsim

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// FaultAction is what a fault does to a matching request.
type FaultAction string

// Fault actions, as DESIGN.md spells them.
const (
	FaultDrop       FaultAction = "drop"       // no answer
	FaultDelay      FaultAction = "delay"      // hold the request Delay before processing it
	FaultReject     FaultAction = "reject"     // answer on /rejected with Status
	FaultDisconnect FaultAction = "disconnect" // close the connection instead of answering
)

// Fault is one parsed --fault SPEC: OPERATION:ACTION[:COUNT].
type Fault struct {
	Operation string // create-keys | create-from-csr | register | any
	Action    FaultAction
	Delay     time.Duration // delay only
	Status    int           // reject only
	Count     int           // 0 means every matching request
}

// String gives the fault back in SPEC form.
func (f Fault) String() string {
	s := f.Operation + ":" + string(f.Action)
	switch f.Action {
	case FaultDelay:
		s += "=" + f.Delay.String()
	case FaultReject:
		s += "=" + strconv.Itoa(f.Status)
	}
	if f.Count > 0 {
		s += ":" + strconv.Itoa(f.Count)
	}
	return s
}

// ParseFault reads "OPERATION:ACTION[:COUNT]", for example "register:reject=500:3",
// "any:delay=2s" or "create-from-csr:drop:1".
func ParseFault(spec string) (Fault, error) {
	parts := strings.Split(spec, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return Fault{}, fmt.Errorf("fault %q: want OPERATION:ACTION[:COUNT]", spec)
	}
	f := Fault{Operation: parts[0]}
	switch operation(f.Operation) {
	case opCreateKeys, opCreateFromCSR, opRegister, opAny:
	default:
		return Fault{}, fmt.Errorf("fault %q: operation %q is not create-keys, create-from-csr, register or any", spec, parts[0])
	}
	action, arg, hasArg := strings.Cut(parts[1], "=")
	f.Action = FaultAction(action)
	switch f.Action {
	case FaultDrop, FaultDisconnect:
		if hasArg {
			return Fault{}, fmt.Errorf("fault %q: %s takes no value", spec, action)
		}
	case FaultDelay:
		d, err := time.ParseDuration(arg)
		if err != nil || d < 0 {
			return Fault{}, fmt.Errorf("fault %q: delay needs a duration such as delay=2s", spec)
		}
		f.Delay = d
	case FaultReject:
		n, err := strconv.Atoi(arg)
		if err != nil || n < 400 || n > 599 {
			return Fault{}, fmt.Errorf("fault %q: reject needs an HTTP status 400-599 such as reject=500", spec)
		}
		f.Status = n
	default:
		return Fault{}, fmt.Errorf("fault %q: action %q is not drop, delay=DURATION, reject=STATUS or disconnect", spec, action)
	}
	if len(parts) == 3 {
		n, err := strconv.Atoi(parts[2])
		if err != nil || n < 1 {
			return Fault{}, fmt.Errorf("fault %q: COUNT must be a positive integer", spec)
		}
		f.Count = n
	}
	return f, nil
}

// faultSet applies faults in order, each to at most Count matching requests.
type faultSet struct {
	mu     sync.Mutex
	faults []Fault
	used   []int
}

// newFaultSet returns nil when there are no faults: match then neither locks nor loops.
func newFaultSet(fs []Fault) *faultSet {
	if len(fs) == 0 {
		return nil
	}
	return &faultSet{faults: fs, used: make([]int, len(fs))}
}

// plan is what the faults do to one request.
type plan struct {
	delay    time.Duration
	terminal *Fault // drop, reject or disconnect; nil means process normally
}

// match consumes the faults that apply to one request of op. Delays add up; the first
// terminal fault wins.
func (s *faultSet) match(op operation) plan {
	var p plan
	if s == nil {
		return p
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.faults {
		f := &s.faults[i]
		if operation(f.Operation) != op && operation(f.Operation) != opAny {
			continue
		}
		if f.Action != FaultDelay && p.terminal != nil {
			continue
		}
		if f.Count > 0 && s.used[i] >= f.Count {
			continue
		}
		s.used[i]++
		if f.Action == FaultDelay {
			p.delay += f.Delay
		} else {
			p.terminal = f
		}
	}
	return p
}
