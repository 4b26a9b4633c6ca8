package p11key

import (
	"errors"
	"os"
	"runtime"
	"sync"
	"unsafe"

	"github.com/ebitengine/purego"
)

// module is a loaded, initialized PKCS#11 module. A module is initialized
// once per process, so every Token on it shares one; the last Close
// finalizes it.
type module struct {
	path string
	fns  *ckFunctionList
	refs int // guarded by modulesMu
	// manufacturer is CK_INFO.manufacturerID, the module's maker.
	manufacturer string
}

var (
	modulesMu sync.Mutex
	modules   = map[string]*module{}

	// badPINs remembers the PINs tokens refused, by module, token and PIN
	// digest, for the life of the process, so that no retry sends a
	// refused PIN again: a backoff must never lock a token. A new PIN (the
	// file corrected) is tried.
	badPINs sync.Map
)

// openModule loads and initializes the module at path, or returns the one
// already loaded.
func openModule(path string) (*module, error) {
	modulesMu.Lock()
	defer modulesMu.Unlock()
	if m := modules[path]; m != nil {
		m.refs++
		return m, nil
	}
	if _, err := os.Stat(path); err != nil {
		return nil, moduleError(path, "cannot read the module: "+pathMessage(err), err)
	}
	lib, err := purego.Dlopen(path, purego.RTLD_NOW|purego.RTLD_LOCAL)
	if err != nil {
		return nil, moduleError(path, "cannot load the module: "+err.Error(), err)
	}
	getList, err := purego.Dlsym(lib, "C_GetFunctionList")
	if err != nil {
		return nil, moduleError(path, "is not a PKCS#11 module (no C_GetFunctionList)", err)
	}
	m := &module{path: path}
	var p pins
	r, _, _ := purego.SyscallN(getList, p.ptr(unsafe.Pointer(&m.fns)))
	p.Unpin()
	if rv(r) != ckrOK || m.fns == nil {
		return nil, moduleError(path, "C_GetFunctionList failed: "+rv(r).Error(), rv(r))
	}
	args := &ckInitializeArgs{flags: ckfOSLockingOK}
	switch r := m.call(fnInitialize, p.ptr(unsafe.Pointer(args))); r {
	case ckrOK, ckrCryptokiAlreadyInitialed:
	default:
		p.Unpin()
		return nil, moduleError(path, "C_Initialize failed: "+r.Error()+moduleHint(), r)
	}
	var info ckInfo
	if m.call(fnGetInfo, p.ptr(unsafe.Pointer(&info))) == ckrOK {
		m.manufacturer = blankPadded(info.manufacturerID[:])
	}
	p.Unpin()
	m.refs = 1
	modules[path] = m
	return m, nil
}

// release drops one reference; the last finalizes the module.
func (m *module) release() {
	modulesMu.Lock()
	defer modulesMu.Unlock()
	m.refs--
	if m.refs > 0 {
		return
	}
	delete(modules, m.path)
	m.call(fnFinalize, 0)
}

// call calls the entry point fn with args. Memory that args point to
// must be pinned (pins) for the length of the call.
func (m *module) call(fn int, args ...uintptr) rv {
	f := m.fns.fns[fn]
	if f == 0 {
		return ckrFunctionNotSupported
	}
	r, _, _ := purego.SyscallN(f, args...)
	return rv(ulong(r))
}

// pins keeps Go memory handed to the module in place and alive until
// Unpin, as the module may keep the pointers it is given for the call.
type pins struct{ runtime.Pinner }

// ptr pins what p points to and returns it as a C pointer. A nil p is
// NULL.
func (p *pins) ptr(ptr unsafe.Pointer) uintptr {
	if ptr == nil {
		return 0
	}
	p.Pin(ptr)
	return uintptr(ptr)
}

// bytes pins b's array and returns it as a C pointer; an empty b is NULL.
func (p *pins) bytes(b []byte) uintptr {
	if len(b) == 0 {
		return 0
	}
	return p.ptr(unsafe.Pointer(&b[0]))
}

// template pins attrs and every value they point to.
func (p *pins) template(attrs []ckAttribute) (uintptr, uintptr) {
	if len(attrs) == 0 {
		return 0, 0
	}
	for i := range attrs {
		if attrs[i].value != nil {
			p.Pin(attrs[i].value)
		}
	}
	return p.ptr(unsafe.Pointer(&attrs[0])), uintptr(len(attrs))
}

// moduleHint adds what usually makes a module's initialization fail.
func moduleHint() string {
	return " (the module could not start; a module such as softhsm2 or tpm2-pkcs11 reads its settings " +
		"from its environment, SOFTHSM2_CONF or TPM2_PKCS11_TCTI, which a systemd drop-in sets for provisiond)"
}

func pathMessage(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
