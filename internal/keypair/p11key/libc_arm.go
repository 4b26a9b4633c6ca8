package p11key

// purego asks only libdl.so.2 for its functions on arm, so the binary would
// not name glibc itself (lintian: program-not-linked-against-libc); the
// modules it loads need it all the same. This names libc.so.6 as a needed
// library, as on amd64 and arm64.
//
//go:cgo_import_dynamic _ _ "libc.so.6"
