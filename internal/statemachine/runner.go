package statemachine

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/provisiond/provisiond/internal/claims"
	"github.com/provisiond/provisiond/internal/clock"
	"github.com/provisiond/provisiond/internal/keypair/keystore"
	"github.com/provisiond/provisiond/internal/store"
)

// Runner drives the state machine. Run owns the state; Kick and
// HandoffChanged may be called from any goroutine.
type Runner struct {
	set     Settings
	files   store.Files
	dialer  Dialer
	clock   clock.Clock
	keys    keystore.Store
	attest  Attester
	notify  Notifier
	log     *zap.Logger
	boot    clock.Boot
	crash   func(string)
	idling  func(int)
	onSave  func(store.State)
	backoff *backoff

	kick, handoff chan struct{}

	// Owned by the Run goroutine. st is always what state.json holds.
	st      store.State
	session Session
	// sessionTemplate is the template session registers with: the
	// rotation's over the device's identity, template.name over the claim.
	sessionTemplate string
	// sessionClaim is the claim session was opened with; nil for a session
	// over the device's own identity.
	sessionClaim *claims.Claim
	// chosen is the claim the next claim session uses, which beforeCall
	// records in the state.
	chosen *chosenClaim
	// oldIdentitiesChecked: removeOldIdentities ran for this identity.
	oldIdentitiesChecked bool
	// madeKey is the CSR key this Runner made: a key an earlier run made may
	// be a pair a crash cut short inside the token (csr).
	madeKey store.KeyRef
	// keyKept: the key store made the registered identity's key permanent
	// since this process started (a TPM cleared of tpm.handle gets it back).
	keyKept bool
	// restoreFailures counts failed attempts to keep the handoff in place;
	// a restart tries again at once, so it is not saved.
	restoreFailures int
	// planned: when idle planned to wake for a rotation or verification.
	planned plans
	// kicksTaken counts the kicks idle took, for the idling hook.
	kicksTaken int

	// elapsed reads a monotonic clock, which a wall-clock step (NTP at first
	// boot) does not move.
	elapsed func() time.Duration
	// busySince is elapsed()+1 when the current step started, 0 while the
	// loop waits; the watchdog reads it.
	busySince atomic.Int64
	running   atomic.Bool
}

// New checks the settings and fills in default dependencies.
func New(s Settings, d Deps) (*Runner, error) {
	if err := s.check(); err != nil {
		return nil, fmt.Errorf("statemachine: %w", err)
	}
	if d.Files == nil {
		return nil, errors.New("statemachine: no store")
	}
	if d.Dialer == nil {
		return nil, errors.New("statemachine: no dialer")
	}
	r := &Runner{
		set:     s,
		files:   d.Files,
		dialer:  d.Dialer,
		clock:   d.Clock,
		keys:    d.KeyStore,
		attest:  d.Attest,
		notify:  d.Notify,
		log:     d.Logger,
		boot:    d.Boot,
		crash:   d.crash,
		idling:  d.idling,
		onSave:  d.OnSave,
		backoff: newBackoff(s.Retry.Initial, s.Retry.Max, d.Rand),
		kick:    make(chan struct{}, 1),
		handoff: make(chan struct{}, 1),
	}
	if r.clock == nil {
		r.clock = clock.Real()
	}
	r.elapsed = clock.ElapsedOf(r.clock)
	if r.keys == nil {
		r.keys = keystore.NewFiles(r.files, nil)
	}
	if r.notify == nil {
		r.notify = nopNotifier{}
	}
	if r.log == nil {
		r.log = zap.NewNop()
	}
	if r.boot == nil {
		r.boot = clock.SystemBoot()
	}
	return r, nil
}

// Kick asks for an attempt now: the config or claim files changed.
func (r *Runner) Kick() { signal(r.kick) }

// HandoffChanged tells the runner that the state folder changed: it
// restores a missing or damaged credentials.json and serves a
// store.ReprovisionRequestFile.
func (r *Runner) HandoffChanged() { signal(r.handoff) }

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default: // one pending signal is as good as many
	}
}

// Run loads the state and provisions until ctx is done. A corrupt state file
// is returned as an error, never overwritten. It returns nil on a clean stop.
func (r *Runner) Run(ctx context.Context) error {
	if !r.running.CompareAndSwap(false, true) {
		return errors.New("statemachine: Run called twice")
	}
	defer r.running.Store(false)
	st, err := store.LoadState(r.files)
	if err != nil {
		return err
	}
	r.st = resumed(st)
	// READY=1 only once the store is known to be writable; a probe proves
	// it without the cost of a durable write on the way to provisioned.
	if err := r.files.Probe(); err != nil {
		return fmt.Errorf("state directory is not writable: %w", err)
	}
	r.log.Info("state loaded", r.fields()...)
	r.refreshRotationDue()
	r.notify.Ready()
	r.publishStatus()

	defer r.startWatchdog()()
	defer r.closeSession()
	r.loop(ctx)

	r.closeSession()
	if err := r.save(r.st); err != nil {
		return fmt.Errorf("save state on stop: %w", err)
	}
	r.log.Info("stopped", r.fields()...)
	return nil
}

// untilNextAttempt is the wait before the next attempt: until the state's
// NextAttemptAt, which every failure sets and every progress clears. Read
// from the state, a wait saved before a restart is honoured, so that a
// crash loop cannot hammer the service; it is capped at the longest wait
// the runner itself schedules (Retry.Max, Retry.Permanent or clockRetry),
// so that a permanent failure's wait survives a restart while a wall clock
// that jumped back cannot wedge the daemon. A call the state records as
// under way is the one this process makes now: no wait.
func (r *Runner) untilNextAttempt() time.Duration {
	if r.st.Phase == store.Registered || r.st.Calling || r.st.NextAttemptAt.IsZero() {
		return 0
	}
	d := r.st.NextAttemptAt.Sub(r.clock.Now())
	return min(max(d, 0), max(r.set.Retry.Max, r.set.Retry.Permanent, clockRetry))
}

// idle waits, registered, for something to do. Idle means idle: one timer
// at the earliest due thing (a rotation or verification the schedules
// plan, a retry of a failed restore of the handoff on the backoff
// schedule), or none.
func (r *Runner) idle(ctx context.Context) {
	acted, wake := r.scheduled()
	if acted {
		return
	}
	d := time.Duration(-1)
	if !wake.IsZero() {
		d = max(wake.Sub(r.clock.Now()), 0)
	}
	if r.restoreFailures > 0 {
		retry := r.backoff.delay(r.restoreFailures)
		r.log.Info("retrying the handoff later", append(r.fields(), zap.Duration("retryIn", retry))...)
		if d < 0 || retry < d {
			d = retry
		}
	}
	var fire <-chan time.Time
	if d >= 0 {
		var stop func() bool
		fire, stop = r.clock.NewTimer(d)
		defer stop()
	}
	if r.idling != nil {
		r.idling(r.kicksTaken)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-fire:
			return
		case <-r.kick:
			r.kicksTaken++
			// The clock may have been set: decide again. Config or claim
			// changes do not otherwise concern a registered device.
			return
		case <-r.handoff:
			// While a restore waits for its retry, only a request counts.
			if r.restoreFailures == 0 || r.serveRequestFile() {
				return
			}
		}
	}
}

// sleep waits until the next attempt. A Kick, a reprovision request (a new
// identity is being obtained anyway) or ctx end it early; the attempt that
// follows sets or clears NextAttemptAt anew. It reports false when ctx is
// done.
func (r *Runner) sleep(ctx context.Context) bool {
	wait := r.untilNextAttempt()
	if wait <= 0 {
		drain(r.kick) // this attempt serves it
		return ctx.Err() == nil
	}
	fire, stop := r.clock.NewTimer(wait)
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-fire:
		case <-r.kick:
			r.log.Info("retrying now: the config or claim files changed", r.fields()...)
		case <-r.handoff:
			// A request, or a drop folder that now holds the claim awaited.
			if !r.serveRequestFile() && !r.claimArrived() {
				continue
			}
		}
		return true
	}
}

func drain(c chan struct{}) {
	select {
	case <-c:
	default:
	}
}

// stepBudget bounds one step: connect, one call and a proof connection,
// each bounded by the response timeout. The watchdog stops being fed when a
// step overruns it, so that a wedged call gets the daemon restarted.
func (r *Runner) stepBudget() time.Duration {
	return 4*r.set.Retry.ResponseTimeout + 10*time.Second
}

// startWatchdog feeds the service manager's watchdog every interval while
// the loop is alive: waiting, or in a step younger than its budget.
func (r *Runner) startWatchdog() (stop func()) {
	if r.set.WatchdogInterval <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		for {
			fire, stopTimer := r.clock.NewTimer(r.set.WatchdogInterval)
			select {
			case <-done:
				stopTimer()
				return
			case <-fire:
			}
			busy := r.busySince.Load()
			if busy == 0 || r.elapsed()-time.Duration(busy-1) <= r.stepBudget() {
				r.notify.Watchdog()
			} else {
				r.log.Error("step overran its budget: no longer feeding the watchdog",
					zap.Duration("budget", r.stepBudget()))
			}
		}
	}()
	return func() {
		close(done)
		<-exited
	}
}

type nopNotifier struct{}

func (nopNotifier) Ready()        {}
func (nopNotifier) Status(string) {}
func (nopNotifier) Watchdog()     {}
