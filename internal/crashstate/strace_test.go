package crashstate

import (
	"strings"
	"testing"
)

// hex escapes s as strace -xx prints it.
func hx(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteString(`\x` + "0123456789abcdef"[s[i]>>4:s[i]>>4+1] + "0123456789abcdef"[s[i]&15:s[i]&15+1])
	}
	return b.String()
}

// A trace of one atomic write, with a call another thread interrupted,
// gives the ops in completion order, with paths under the root only.
func TestTraceOfAnAtomicWriteGivesItsOps(t *testing.T) {
	root := "/s/dev"
	tmp := root + "/.state.json.tmp-1"
	trace := strings.Join([]string{
		`10 openat(AT_FDCWD<` + hx("/") + `>, "` + hx(tmp) + `", O_RDWR|O_CREAT|O_EXCL|O_CLOEXEC, 0600) = 5<` + hx(tmp) + `>`,
		`10 openat(AT_FDCWD<` + hx("/") + `>, "` + hx("/etc/hosts") + `", O_RDONLY|O_CLOEXEC) = 6<` + hx("/etc/hosts") + `>`,
		`10 write(5<` + hx(tmp) + `>, "` + hx("{}\n") + `", 3 <unfinished ...>`,
		`11 mkdirat(AT_FDCWD<` + hx("/") + `>, "` + hx(root+"/identities") + `", 0750) = 0`,
		`10 <... write resumed>) = 3`,
		`10 write(5<` + hx(tmp) + `>, "` + hx("x") + `", 1) = 1`,
		`10 fsync(5<` + hx(tmp) + `>) = 0`,
		`10 close(5<` + hx(tmp) + `>) = 0`,
		`10 renameat(AT_FDCWD<` + hx("/") + `>, "` + hx(tmp) + `", AT_FDCWD<` + hx("/") + `>, "` + hx(root+"/state.json") + `") = 0`,
		`10 openat(AT_FDCWD<` + hx("/") + `>, "` + hx(root) + `", O_RDONLY|O_CLOEXEC) = 5<` + hx(root) + `>`,
		`10 fsync(5<` + hx(root) + `>) = 0`,
		`10 unlinkat(AT_FDCWD<` + hx("/") + `>, "` + hx(root+"/gone") + `", 0) = -1 ENOENT (No such file or directory)`,
		`10 --- SIGURG {si_signo=SIGURG} ---`,
	}, "\n")
	calls, err := parseTrace(strings.NewReader(trace))
	if err != nil {
		t.Fatal(err)
	}
	b := newOpBuilder(root, newTree())
	for _, c := range calls {
		b.add(c)
	}
	var got []string
	for _, o := range b.ops {
		got = append(got, o.String())
	}
	want := []string{
		"create .state.json.tmp-1",
		"mkdir identities",
		"write .state.json.tmp-1#1 off=0 len=3",
		"write .state.json.tmp-1#1 off=3 len=1",
		"fsync .state.json.tmp-1#1",
		"rename .state.json.tmp-1 -> state.json",
		"fsync-dir /",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("ops:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if string(b.ops[2].Data) != "{}\n" {
		t.Fatalf("write data %q", b.ops[2].Data)
	}
}
