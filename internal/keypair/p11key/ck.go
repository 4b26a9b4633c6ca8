package p11key

// The PKCS#11 2.40 constants this package uses, with the names of the
// specification.

// ulong is CK_ULONG, C's unsigned long: 8 bytes on LP64 (amd64, arm64), 4 on
// arm, as Go's uint is on Linux. layout_*.go check the structures built on it.
type ulong = uint

const (
	ckUnavailable = ^ulong(0) // CK_UNAVAILABLE_INFORMATION

	ckfOSLockingOK    = 0x2 // CKF_OS_LOCKING_OK
	ckfRWSession      = 0x2 // CKF_RW_SESSION
	ckfSerialSession  = 0x4 // CKF_SERIAL_SESSION
	ckfTokenInit      = 0x400
	ckfSign           = 0x800 // in CK_MECHANISM_INFO.flags
	ckfLoginRequired  = 0x4
	ckfUserPinInit    = 0x8
	ckfProtectedPath  = 0x100
	ckfUserPinLocked  = 0x40000
	ckfUserPinToBeChg = 0x80000

	ckuSO   = 0
	ckuUser = 1

	ckoPublicKey  = 2
	ckoPrivateKey = 3

	ckkRSA = 0
	ckkEC  = 3
)

// Attribute types.
const (
	ckaClass          = 0x000
	ckaToken          = 0x001
	ckaPrivate        = 0x002
	ckaLabel          = 0x003
	ckaKeyType        = 0x100
	ckaID             = 0x102
	ckaSensitive      = 0x103
	ckaEncrypt        = 0x104
	ckaDecrypt        = 0x105
	ckaWrap           = 0x106
	ckaUnwrap         = 0x107
	ckaSign           = 0x108
	ckaVerify         = 0x10A
	ckaDerive         = 0x10C
	ckaModulus        = 0x120
	ckaModulusBits    = 0x121
	ckaPublicExponent = 0x122
	ckaPrivateExp     = 0x123
	ckaPrime1         = 0x124
	ckaPrime2         = 0x125
	ckaExponent1      = 0x126
	ckaExponent2      = 0x127
	ckaCoefficient    = 0x128
	ckaExtractable    = 0x162
	ckaECParams       = 0x180
	ckaECPoint        = 0x181
	ckaValue          = 0x011
)

// Mechanisms.
const (
	ckmRSAKeyPairGen = 0x0000
	ckmRSAPKCS       = 0x0001
	ckmRSAPKCSPSS    = 0x000D
	ckmECKeyPairGen  = 0x1040
	ckmECDSA         = 0x1041
	ckmSHA256        = 0x0250
	ckmSHA384        = 0x0260
	ckmSHA512        = 0x0270

	ckgMGF1SHA256 = 0x2
	ckgMGF1SHA384 = 0x3
	ckgMGF1SHA512 = 0x4
)

// rv is a CK_RV, a PKCS#11 function's return value.
type rv ulong

const (
	ckrOK                       rv = 0x000
	ckrHostMemory               rv = 0x002
	ckrSlotIDInvalid            rv = 0x003
	ckrGeneralError             rv = 0x005
	ckrFunctionFailed           rv = 0x006
	ckrArgumentsBad             rv = 0x007
	ckrAttributeSensitive       rv = 0x011
	ckrAttributeTypeInvalid     rv = 0x012
	ckrAttributeValueInvalid    rv = 0x013
	ckrDeviceError              rv = 0x030
	ckrDeviceMemory             rv = 0x031
	ckrDeviceRemoved            rv = 0x032
	ckrFunctionCanceled         rv = 0x050
	ckrFunctionNotSupported     rv = 0x054
	ckrKeyHandleInvalid         rv = 0x060
	ckrKeySizeRange             rv = 0x062
	ckrKeyTypeInconsistent      rv = 0x063
	ckrKeyFunctionNotPermitted  rv = 0x068
	ckrMechanismInvalid         rv = 0x070
	ckrMechanismParamInvalid    rv = 0x071
	ckrObjectHandleInvalid      rv = 0x082
	ckrOperationActive          rv = 0x090
	ckrPinIncorrect             rv = 0x0A0
	ckrPinInvalid               rv = 0x0A1
	ckrPinLenRange              rv = 0x0A2
	ckrPinExpired               rv = 0x0A3
	ckrPinLocked                rv = 0x0A4
	ckrSessionClosed            rv = 0x0B0
	ckrSessionCount             rv = 0x0B1
	ckrSessionHandleInvalid     rv = 0x0B3
	ckrSessionReadOnly          rv = 0x0B5
	ckrTemplateIncomplete       rv = 0x0D0
	ckrTemplateInconsistent     rv = 0x0D1
	ckrTokenNotPresent          rv = 0x0E0
	ckrTokenNotRecognized       rv = 0x0E1
	ckrTokenWriteProtected      rv = 0x0E2
	ckrUserAlreadyLoggedIn      rv = 0x100
	ckrUserNotLoggedIn          rv = 0x101
	ckrUserPinNotInitialized    rv = 0x102
	ckrBufferTooSmall           rv = 0x150
	ckrCryptokiNotInitialized   rv = 0x190
	ckrCryptokiAlreadyInitialed rv = 0x191
	ckrFunctionRejected         rv = 0x200
)

var rvNames = map[rv]string{
	ckrOK:                       "CKR_OK",
	ckrHostMemory:               "CKR_HOST_MEMORY",
	ckrSlotIDInvalid:            "CKR_SLOT_ID_INVALID",
	ckrGeneralError:             "CKR_GENERAL_ERROR",
	ckrFunctionFailed:           "CKR_FUNCTION_FAILED",
	ckrArgumentsBad:             "CKR_ARGUMENTS_BAD",
	ckrAttributeSensitive:       "CKR_ATTRIBUTE_SENSITIVE",
	ckrAttributeTypeInvalid:     "CKR_ATTRIBUTE_TYPE_INVALID",
	ckrAttributeValueInvalid:    "CKR_ATTRIBUTE_VALUE_INVALID",
	ckrDeviceError:              "CKR_DEVICE_ERROR",
	ckrDeviceMemory:             "CKR_DEVICE_MEMORY",
	ckrDeviceRemoved:            "CKR_DEVICE_REMOVED",
	ckrFunctionCanceled:         "CKR_FUNCTION_CANCELED",
	ckrFunctionNotSupported:     "CKR_FUNCTION_NOT_SUPPORTED",
	ckrKeyHandleInvalid:         "CKR_KEY_HANDLE_INVALID",
	ckrKeySizeRange:             "CKR_KEY_SIZE_RANGE",
	ckrKeyTypeInconsistent:      "CKR_KEY_TYPE_INCONSISTENT",
	ckrKeyFunctionNotPermitted:  "CKR_KEY_FUNCTION_NOT_PERMITTED",
	ckrMechanismInvalid:         "CKR_MECHANISM_INVALID",
	ckrMechanismParamInvalid:    "CKR_MECHANISM_PARAM_INVALID",
	ckrObjectHandleInvalid:      "CKR_OBJECT_HANDLE_INVALID",
	ckrOperationActive:          "CKR_OPERATION_ACTIVE",
	ckrPinIncorrect:             "CKR_PIN_INCORRECT",
	ckrPinInvalid:               "CKR_PIN_INVALID",
	ckrPinLenRange:              "CKR_PIN_LEN_RANGE",
	ckrPinExpired:               "CKR_PIN_EXPIRED",
	ckrPinLocked:                "CKR_PIN_LOCKED",
	ckrSessionClosed:            "CKR_SESSION_CLOSED",
	ckrSessionCount:             "CKR_SESSION_COUNT",
	ckrSessionHandleInvalid:     "CKR_SESSION_HANDLE_INVALID",
	ckrSessionReadOnly:          "CKR_SESSION_READ_ONLY",
	ckrTemplateIncomplete:       "CKR_TEMPLATE_INCOMPLETE",
	ckrTemplateInconsistent:     "CKR_TEMPLATE_INCONSISTENT",
	ckrTokenNotPresent:          "CKR_TOKEN_NOT_PRESENT",
	ckrTokenNotRecognized:       "CKR_TOKEN_NOT_RECOGNIZED",
	ckrTokenWriteProtected:      "CKR_TOKEN_WRITE_PROTECTED",
	ckrUserAlreadyLoggedIn:      "CKR_USER_ALREADY_LOGGED_IN",
	ckrUserNotLoggedIn:          "CKR_USER_NOT_LOGGED_IN",
	ckrUserPinNotInitialized:    "CKR_USER_PIN_NOT_INITIALIZED",
	ckrBufferTooSmall:           "CKR_BUFFER_TOO_SMALL",
	ckrCryptokiNotInitialized:   "CKR_CRYPTOKI_NOT_INITIALIZED",
	ckrCryptokiAlreadyInitialed: "CKR_CRYPTOKI_ALREADY_INITIALIZED",
	ckrFunctionRejected:         "CKR_FUNCTION_REJECTED",
}

// Error makes a return value an error for errors.Is and for the text of
// an Error.
func (r rv) Error() string {
	if n, ok := rvNames[r]; ok {
		return n
	}
	return "CKR_0x" + hexUlong(ulong(r))
}

func hexUlong(v ulong) string {
	const digits = "0123456789ABCDEF"
	if v == 0 {
		return "0"
	}
	var b []byte
	for ; v > 0; v >>= 4 {
		b = append([]byte{digits[v&0xF]}, b...)
	}
	return string(b)
}
