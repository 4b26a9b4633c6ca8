package p11key

// LP64: CK_ULONG and pointers are 8 bytes.
const (
	sizePointer        = 8
	sizeAttribute      = 24  // also CK_MECHANISM, CK_RSA_PKCS_PSS_PARAMS, CK_MECHANISM_INFO
	sizeTokenInfo      = 208 // 96 bytes of text, 11 CK_ULONGs, 20 bytes, padded to 8
	sizeInfo           = 88  // 34 bytes, padded to 40, a CK_ULONG, 34 bytes, padded to 8
	sizeInitializeArgs = 48
)
