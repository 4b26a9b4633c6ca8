package tpmkey

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"

	"github.com/google/go-tpm/tpm2"
)

// Kind says how a caller should react to a TPM failure.
type Kind int

const (
	// KindTransient: the TPM is busy, asks to retry, is self-testing, is
	// short of memory, or cannot be reached for a moment. Retry with backoff.
	KindTransient Kind = iota
	// KindLockout: the TPM is in dictionary-attack lockout and refuses
	// authorisations until its recovery time passes. It is a wait, not a
	// fault of the service: retry on the long cap.
	KindLockout
	// KindMissing: there is no TPM at tpm.device.
	KindMissing
	// KindConfig: a setting names something the TPM does not have or cannot
	// do (tpm.parent, tpm.handle, key_type, a device that is not a TPM).
	KindConfig
	// KindFailed: the TPM refused a command for another reason; retrying
	// the same command will not help soon.
	KindFailed
)

func (k Kind) String() string {
	switch k {
	case KindTransient:
		return "transient"
	case KindLockout:
		return "lockout"
	case KindMissing:
		return "missing"
	case KindConfig:
		return "config"
	case KindFailed:
		return "failed"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Error is a TPM failure in plain words. Setting names the config key to
// look at ("tpm.device", "tpm.parent", "tpm.handle", "key_type",
// "claim.private_key"), or is empty. It never holds key material: TPM
// answers are response codes, and key files are named by path only.
type Error struct {
	Setting string
	Kind    Kind
	Msg     string
	// Err is the underlying cause (a tpm2.TPMRC, a *net.OpError, …), for
	// errors.Is; it is not part of the text when Msg already says it.
	Err error
}

func (e *Error) Error() string {
	if e.Setting == "" {
		return "tpm: " + e.Msg
	}
	return e.Setting + ": " + e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

// Transient reports whether retrying soon may succeed.
func (e *Error) Transient() bool { return e.Kind == KindTransient }

// IsTransient reports whether err is a TPM failure that retrying soon may
// cure. Errors that are not from this package report false.
func IsTransient(err error) bool {
	var te *Error
	return errors.As(err, &te) && te.Transient()
}

// rcWords explains the response codes a device key meets in the field.
var rcWords = map[tpm2.TPMRC]struct {
	kind  Kind
	words string
}{
	tpm2.TPMRCRetry:         {KindTransient, "the TPM asked to retry the command (TPM_RC_RETRY)"},
	tpm2.TPMRCYielded:       {KindTransient, "the TPM yielded before finishing the command (TPM_RC_YIELDED)"},
	tpm2.TPMRCTesting:       {KindTransient, "the TPM is running its self-test (TPM_RC_TESTING)"},
	tpm2.TPMRCCanceled:      {KindTransient, "the TPM cancelled the command (TPM_RC_CANCELED)"},
	tpm2.TPMRCNVRate:        {KindTransient, "the TPM is rate-limiting writes to its memory (TPM_RC_NV_RATE)"},
	tpm2.TPMRCNVUnavailable: {KindTransient, "the TPM's memory is not available for now (TPM_RC_NV_UNAVAILABLE)"},
	tpm2.TPMRCObjectMemory:  {KindTransient, "the TPM has no free object slot; another program holds them (TPM_RC_OBJECT_MEMORY)"},
	tpm2.TPMRCSessionMemory: {KindTransient, "the TPM has no free session slot; another program holds them (TPM_RC_SESSION_MEMORY)"},
	tpm2.TPMRCMemory:        {KindTransient, "the TPM is out of memory for now (TPM_RC_MEMORY)"},
	tpm2.TPMRCLockout: {KindLockout, "the TPM is in dictionary-attack lockout after too many wrong passwords; " +
		"it refuses the key until its lockout recovery time passes (or tpm2_dictionarylockout --clear-lockout); provisiond waits and retries (TPM_RC_LOCKOUT)"},
	tpm2.TPMRCInitialize: {KindFailed, "the TPM has not been started (TPM_RC_INITIALIZE); the firmware or kernel normally sends TPM2_Startup"},
	tpm2.TPMRCFailure:    {KindFailed, "the TPM is in failure mode (TPM_RC_FAILURE); it needs a reboot"},
}

// tpmError classifies err from a TPM command for op ("create the key",
// "sign", …). setting is who to blame when the code says a handle or
// value is wrong.
func tpmError(op, setting string, err error) error {
	if err == nil {
		return nil
	}
	var te *Error
	if errors.As(err, &te) {
		return err
	}
	var rc tpm2.TPMRC
	if errors.As(err, &rc) {
		for code, w := range rcWords {
			if errors.Is(rc, code) {
				return &Error{Kind: w.kind, Msg: op + ": " + w.words, Err: rc}
			}
		}
		var f1 tpm2.TPMFmt1Error
		if errors.As(rc, &f1) {
			if isHandle, _ := f1.Handle(); isHandle && setting != "" {
				return &Error{Setting: setting, Kind: KindConfig, Msg: op + ": the TPM refused the handle: " + rc.Error(), Err: rc}
			}
		}
		return &Error{Kind: KindFailed, Msg: op + ": " + rc.Error(), Err: rc}
	}
	return transportError(op, err)
}

// transportError classifies a failure to talk to the TPM at all.
func transportError(op string, err error) error {
	const setting = "tpm.device"
	switch {
	case errors.Is(err, os.ErrNotExist):
		return &Error{Setting: setting, Kind: KindMissing, Msg: op + ": no TPM: " + pathError(err), Err: err}
	case errors.Is(err, os.ErrPermission):
		return &Error{Setting: setting, Kind: KindConfig, Msg: op + ": permission denied: " + pathError(err) + " (the service user needs the tss group)", Err: err}
	case errors.Is(err, syscall.EBUSY), errors.Is(err, syscall.EAGAIN), errors.Is(err, syscall.EINTR):
		return &Error{Setting: setting, Kind: KindTransient, Msg: op + ": the TPM is busy: " + err.Error(), Err: err}
	case errors.Is(err, syscall.ECONNREFUSED):
		return &Error{Setting: setting, Kind: KindMissing, Msg: op + ": no TPM listening: " + err.Error(), Err: err}
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return &Error{Setting: setting, Kind: KindTransient, Msg: op + ": lost the connection to the TPM: " + err.Error(), Err: err}
	}
	return &Error{Setting: setting, Kind: KindTransient, Msg: op + ": talking to the TPM: " + err.Error(), Err: err}
}

func pathError(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Path + ": " + pe.Err.Error()
	}
	return err.Error()
}
