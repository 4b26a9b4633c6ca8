package p11key

// ILP32 (armhf): CK_ULONG and pointers are 4 bytes.
const (
	sizePointer        = 4
	sizeAttribute      = 12  // also CK_MECHANISM, CK_RSA_PKCS_PSS_PARAMS, CK_MECHANISM_INFO
	sizeTokenInfo      = 160 // 96 bytes of text, 11 CK_ULONGs, 20 bytes
	sizeInfo           = 76  // 34 bytes, padded to 36, a CK_ULONG, 34 bytes, padded to 4
	sizeInitializeArgs = 24
)
