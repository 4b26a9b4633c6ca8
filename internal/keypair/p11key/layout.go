package p11key

import "unsafe"

// The C structures passed to the module, laid out as C lays them out on
// Linux (natural alignment, no packing): CK_ULONG is ulong, pointers are
// unsafe.Pointer, CK_BBOOL and CK_CHAR are bytes. layout_GOARCH.go asserts
// their sizes at compile time.

// ckAttribute is CK_ATTRIBUTE.
type ckAttribute struct {
	typ   ulong
	value unsafe.Pointer
	len   ulong
}

// ckMechanism is CK_MECHANISM.
type ckMechanism struct {
	mech     ulong
	param    unsafe.Pointer
	paramLen ulong
}

// ckPSSParams is CK_RSA_PKCS_PSS_PARAMS.
type ckPSSParams struct {
	hashAlg ulong
	mgf     ulong
	saltLen ulong
}

// ckMechanismInfo is CK_MECHANISM_INFO.
type ckMechanismInfo struct {
	minKeySize ulong
	maxKeySize ulong
	flags      ulong
}

// ckInitializeArgs is CK_C_INITIALIZE_ARGS: no mutex callbacks, the
// module locks with the operating system's primitives.
type ckInitializeArgs struct {
	createMutex  unsafe.Pointer
	destroyMutex unsafe.Pointer
	lockMutex    unsafe.Pointer
	unlockMutex  unsafe.Pointer
	flags        ulong
	reserved     unsafe.Pointer
}

// ckTokenInfo is CK_TOKEN_INFO. Its strings are padded with blanks.
type ckTokenInfo struct {
	label           [32]byte
	manufacturerID  [32]byte
	model           [16]byte
	serialNumber    [16]byte
	flags           ulong
	maxSessionCount ulong
	sessionCount    ulong
	maxRwSession    ulong
	rwSessionCount  ulong
	maxPinLen       ulong
	minPinLen       ulong
	totalPublicMem  ulong
	freePublicMem   ulong
	totalPrivateMem ulong
	freePrivateMem  ulong
	hardwareVersion [2]byte
	firmwareVersion [2]byte
	utcTime         [16]byte
}

// ckInfo is CK_INFO, the module's description.
type ckInfo struct {
	cryptokiVersion    [2]byte
	manufacturerID     [32]byte
	flags              ulong
	libraryDescription [32]byte
	libraryVersion     [2]byte
}

// ckFunctionList is CK_FUNCTION_LIST: a version, then the module's entry
// points in the order of the specification (fn* below).
type ckFunctionList struct {
	_   [2]byte // CK_VERSION
	fns [68]uintptr
}

// Entry points, by their index in CK_FUNCTION_LIST.
const (
	fnInitialize        = 0
	fnFinalize          = 1
	fnGetInfo           = 2
	fnGetSlotList       = 4
	fnGetTokenInfo      = 6
	fnGetMechanismList  = 7
	fnGetMechanismInfo  = 8
	fnInitToken         = 9
	fnInitPIN           = 10
	fnOpenSession       = 12
	fnCloseSession      = 13
	fnLogin             = 18
	fnLogout            = 19
	fnCreateObject      = 20
	fnDestroyObject     = 22
	fnGetAttributeValue = 24
	fnFindObjectsInit   = 26
	fnFindObjects       = 27
	fnFindObjectsFinal  = 28
	fnSignInit          = 42
	fnSign              = 43
	fnGenerateKeyPair   = 59
)

// The layout asserts: each array type has length 0 only when the size is
// the one layout_GOARCH.go states; any other size fails the build.
var (
	_ [0]struct{} = [unsafe.Sizeof(ckAttribute{}) - sizeAttribute]struct{}{}
	_ [0]struct{} = [unsafe.Sizeof(ckMechanism{}) - sizeAttribute]struct{}{}
	_ [0]struct{} = [unsafe.Sizeof(ckPSSParams{}) - sizeAttribute]struct{}{}
	_ [0]struct{} = [unsafe.Sizeof(ckMechanismInfo{}) - sizeAttribute]struct{}{}
	_ [0]struct{} = [unsafe.Sizeof(ckTokenInfo{}) - sizeTokenInfo]struct{}{}
	_ [0]struct{} = [unsafe.Sizeof(ckInitializeArgs{}) - sizeInitializeArgs]struct{}{}
	_ [0]struct{} = [unsafe.Sizeof(ckInfo{}) - sizeInfo]struct{}{}
	// The 2-byte version is padded to a pointer's alignment.
	_ [0]struct{} = [unsafe.Offsetof(ckFunctionList{}.fns) - sizePointer]struct{}{}
)
