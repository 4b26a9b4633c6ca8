package crashstate

import (
	"bufio"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// TraceSyscalls is the strace -e trace= set the recorder asks for: every
// call that can change a file or make a change durable, and the opens and
// closes that give a write its offset.
const TraceSyscalls = "openat,open,creat,write,pwrite64,writev,fsync,fdatasync,rename,renameat,renameat2," +
	"unlink,unlinkat,mkdir,mkdirat,rmdir,ftruncate,truncate,close,sync,syncfs"

// StraceArgs are the strace flags the parser reads: follow every thread and
// child (-f), fd paths (-y), every byte hex-escaped (-xx) so that a string
// never holds a quote or a comma, and strings long enough for whole files.
var StraceArgs = []string{"-f", "-qq", "-y", "-xx", "-s", "1048576", "-e", "trace=" + TraceSyscalls}

var (
	lineRE  = regexp.MustCompile(`^(\d+)\s+(.*)$`)
	resumed = regexp.MustCompile(`^<\.\.\. [a-z0-9_]+ resumed>`)
	callRE  = regexp.MustCompile(`^([a-z0-9_]+)\((.*)\)\s+= (-?\d+)(.*)$`)
	annotRE = regexp.MustCompile(`<((?:\\x[0-9a-f]{2})*)>`)
)

// call is one completed call from the trace.
type call struct {
	name string
	args []string
	ret  int64
	fd   string // the path of a returned fd (openat)
}

// parseTrace reads an strace -o file made with StraceArgs, joining calls
// that other threads interrupted, in the order they completed.
func parseTrace(r io.Reader) ([]call, error) {
	var calls []call
	pending := map[string]string{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for n := 1; sc.Scan(); n++ {
		m := lineRE.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		pid, rest := m[1], m[2]
		if loc := resumed.FindStringIndex(rest); loc != nil {
			rest = pending[pid] + rest[loc[1]:]
			delete(pending, pid)
		}
		if cut, ok := strings.CutSuffix(rest, " <unfinished ...>"); ok {
			pending[pid] = cut
			continue
		}
		c := callRE.FindStringSubmatch(rest)
		if c == nil {
			continue // a signal, an exit, or a call strace could not finish
		}
		ret, err := strconv.ParseInt(c[3], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("strace line %d: return value %q", n, c[3])
		}
		sys := call{name: c[1], args: splitArgs(c[2]), ret: ret}
		if a := annotRE.FindStringSubmatch(c[4]); a != nil {
			sys.fd = unescape(a[1])
		}
		calls = append(calls, sys)
	}
	return calls, sc.Err()
}

// splitArgs splits at ", ": with -xx no string or fd path holds one.
func splitArgs(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ", ")
}

// unescape decodes a run of \xHH escapes.
func unescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] == '\\' && i+4 <= len(s) && s[i+1] == 'x' {
			if v, err := strconv.ParseUint(s[i+2:i+4], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 4
				continue
			}
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

// strArg decodes a quoted string argument.
func strArg(a string) string {
	return unescape(strings.Trim(a, `"`))
}

// fdPath is the path -y prints beside an fd or a dirfd ("12</x/y>").
func fdPath(a string) string {
	if m := annotRE.FindStringSubmatch(a); m != nil {
		return unescape(m[1])
	}
	return ""
}

// atPath resolves a *at call's (dirfd, path) pair.
func atPath(dirfd, path string) string {
	p := strArg(path)
	if !filepath.IsAbs(p) {
		p = filepath.Join(fdPath(dirfd), p)
	}
	return filepath.Clean(p)
}
