// Package softhsm holds what the tests and the crash-state explorer know of
// softhsm2's files: the configuration that keeps a test's tokens in a
// folder of its own, and which files of a token's folder describe the token
// itself. It starts nothing and imports no testing code.
package softhsm

import "path/filepath"

// Config is a softhsm2.conf that keeps tokens as files in tokenDir and logs
// errors only. mechanisms is its slots.mechanisms setting, such as
// "CKM_RSA_PKCS_KEY_PAIR_GEN,CKM_RSA_PKCS"; "" keeps them all (softhsm2 2.6
// ignores a list of exclusions).
func Config(tokenDir, mechanisms string) string {
	if mechanisms == "" {
		mechanisms = "ALL"
	}
	return "directories.tokendir = " + tokenDir + "\nobjectstore.backend = file\nlog.level = ERROR\nslots.mechanisms = " + mechanisms + "\n"
}

// TokenFiles are the files of a token's folder that describe the token
// itself. softhsm2 rewrites each in place (truncate, then write) and never
// syncs: token.object at every C_Login, generation whenever an object is
// made. A process killed, or a power cut, between the two calls leaves the
// file empty, and the token then reads as uninitialized (label "") for good.
var TokenFiles = []string{"token.object", "generation"}

// IsTokenFile says whether path is one of a token's TokenFiles.
func IsTokenFile(path string) bool {
	base := filepath.Base(path)
	for _, f := range TokenFiles {
		if base == f {
			return true
		}
	}
	return false
}
