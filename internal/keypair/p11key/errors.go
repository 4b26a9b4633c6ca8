package p11key

import (
	"errors"
	"fmt"
)

// Kind says how a caller should react to a PKCS#11 failure.
type Kind int

const (
	// KindTransient: the device or the session failed for a moment (it
	// was removed, it is busy, it ran out of memory). Retry with backoff.
	KindTransient Kind = iota
	// KindPIN: the token refused the PIN, or it is locked or expired. It
	// is never retried: every wrong try brings a token closer to locking.
	KindPIN
	// KindMissing: the module or the token is not there.
	KindMissing
	// KindConfig: a setting asks for what the token cannot do (a key type
	// without its mechanism, an import the token refuses).
	KindConfig
	// KindFailed: the module refused for another reason; retrying the same
	// call will not help soon.
	KindFailed
)

func (k Kind) String() string {
	switch k {
	case KindTransient:
		return "transient"
	case KindPIN:
		return "pin"
	case KindMissing:
		return "missing"
	case KindConfig:
		return "config"
	case KindFailed:
		return "failed"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// The settings errors name.
const (
	SettingModule  = "pkcs11.module"
	SettingToken   = "pkcs11.token"
	SettingPIN     = "pkcs11.pin"
	SettingImport  = "pkcs11.import"
	SettingKeyType = "key_type"
)

// Error is a PKCS#11 failure in plain words. Setting names the config key
// to look at, or is empty. It never holds a PIN or key material: module
// answers are return values, and PINs are named by their source only.
type Error struct {
	Setting string
	Kind    Kind
	Msg     string
	// Err is the cause (a CK_RV, an *os.PathError), for errors.Is.
	Err error
}

func (e *Error) Error() string {
	if e.Setting == "" {
		return "pkcs11: " + e.Msg
	}
	return e.Setting + ": " + e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

// Transient reports whether retrying soon may succeed.
func (e *Error) Transient() bool { return e.Kind == KindTransient }

// IsTransient reports whether err is a PKCS#11 failure that retrying soon
// may cure. Errors that are not from this package report false.
func IsTransient(err error) bool {
	var pe *Error
	return errors.As(err, &pe) && pe.Transient()
}

// rvWords explains the return values a device key meets in the field.
var rvWords = map[rv]struct {
	kind    Kind
	setting string
	words   string
}{
	ckrPinIncorrect: {KindPIN, SettingPIN, "wrong PIN (CKR_PIN_INCORRECT); not tried again, so that retries cannot lock the token: correct the file"},
	ckrPinLocked: {KindPIN, SettingPIN, "the token's user PIN is locked after too many wrong tries (CKR_PIN_LOCKED); " +
		"its security officer must unlock or reset it"},
	ckrPinExpired:  {KindPIN, SettingPIN, "the token's user PIN has expired (CKR_PIN_EXPIRED); set a new one on the token and in the file pkcs11.pin names"},
	ckrPinInvalid:  {KindPIN, SettingPIN, "the PIN has characters the token does not take (CKR_PIN_INVALID)"},
	ckrPinLenRange: {KindPIN, SettingPIN, "the PIN is too long or too short for the token (CKR_PIN_LEN_RANGE)"},
	ckrUserPinNotInitialized: {KindConfig, SettingToken, "the token has no user PIN yet (CKR_USER_PIN_NOT_INITIALIZED); " +
		"initialize it (pkcs11-tool --init-pin)"},

	ckrDeviceError:            {KindTransient, SettingToken, "the token reported a device error (CKR_DEVICE_ERROR)"},
	ckrDeviceMemory:           {KindTransient, SettingToken, "the token is out of memory (CKR_DEVICE_MEMORY)"},
	ckrDeviceRemoved:          {KindTransient, SettingToken, "the token was removed (CKR_DEVICE_REMOVED)"},
	ckrTokenNotPresent:        {KindTransient, SettingToken, "the token is not present (CKR_TOKEN_NOT_PRESENT)"},
	ckrSessionClosed:          {KindTransient, SettingToken, "the module closed the session (CKR_SESSION_CLOSED)"},
	ckrSessionHandleInvalid:   {KindTransient, SettingToken, "the module lost the session (CKR_SESSION_HANDLE_INVALID)"},
	ckrSessionCount:           {KindTransient, SettingToken, "the token has no free session (CKR_SESSION_COUNT); another program holds them"},
	ckrUserNotLoggedIn:        {KindTransient, SettingToken, "the session was logged out (CKR_USER_NOT_LOGGED_IN)"},
	ckrFunctionCanceled:       {KindTransient, SettingToken, "the module cancelled the call (CKR_FUNCTION_CANCELED)"},
	ckrHostMemory:             {KindTransient, "", "the module is out of memory (CKR_HOST_MEMORY)"},
	ckrOperationActive:        {KindTransient, "", "another operation is running in the session (CKR_OPERATION_ACTIVE)"},
	ckrCryptokiNotInitialized: {KindTransient, SettingModule, "the module was finalized by someone else in this process (CKR_CRYPTOKI_NOT_INITIALIZED)"},

	ckrMechanismInvalid:      {KindConfig, SettingKeyType, "the token does not have the mechanism (CKR_MECHANISM_INVALID)"},
	ckrMechanismParamInvalid: {KindConfig, SettingKeyType, "the token refused the mechanism's parameters (CKR_MECHANISM_PARAM_INVALID)"},
	ckrKeySizeRange:          {KindConfig, SettingKeyType, "the token does not make keys of that size (CKR_KEY_SIZE_RANGE)"},
	ckrTokenWriteProtected:   {KindConfig, SettingToken, "the token is write-protected (CKR_TOKEN_WRITE_PROTECTED)"},
	ckrSessionReadOnly:       {KindConfig, SettingToken, "the token opens read-only sessions only (CKR_SESSION_READ_ONLY)"},
	ckrTokenNotRecognized:    {KindMissing, SettingToken, "the module does not recognize the token (CKR_TOKEN_NOT_RECOGNIZED)"},
}

// sessionLost reports whether r means the session must be opened and
// logged in again before the call can succeed. A handle that became
// invalid counts: a module that logged the session out hides its private
// objects (softhsm2 then answers CKR_OBJECT_HANDLE_INVALID), and handles
// are found again in the new session.
func sessionLost(r rv) bool {
	switch r {
	case ckrSessionHandleInvalid, ckrSessionClosed, ckrDeviceRemoved, ckrUserNotLoggedIn, ckrTokenNotPresent,
		ckrObjectHandleInvalid, ckrKeyHandleInvalid:
		return true
	}
	return false
}

// rvError classifies r from the call for op ("sign", "make the key pair").
func rvError(op string, r rv) error {
	if r == ckrOK {
		return nil
	}
	if w, ok := rvWords[r]; ok {
		return &Error{Setting: w.setting, Kind: w.kind, Msg: op + ": " + w.words, Err: r}
	}
	return &Error{Kind: KindFailed, Msg: op + ": the module refused: " + r.Error(), Err: r}
}

func moduleError(path, msg string, err error) *Error {
	return &Error{Setting: SettingModule, Kind: KindMissing, Msg: path + ": " + msg, Err: err}
}
