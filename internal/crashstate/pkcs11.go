package crashstate

import (
	"context"
	"crypto/ecdsa"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/provisiond/provisiond/internal/store"
	"github.com/provisiond/provisiond/internal/testtool/softhsm"
)

// A PKCS#11 flow keeps the device key in a softhsm2 token whose token
// folder lies inside the state directory: softhsm2 writes its objects as
// files, and those writes are cut with the daemon's. The token is made
// before the recording; the PIN file is outside the recorded tree.
const (
	tokenFolder = "softhsm2-tokens"
	tokenLabel  = "gateway"
	tokenSOPIN  = "crash-so-pin"
	tokenPIN    = "crash-user-pin"
)

// pinFile is where a recording's token PIN is, outside its state folder.
func (r *Recording) pinFile() string { return filepath.Join(r.Base, "token.pin") }

func (r *Recording) pkcs11Config(module string) string {
	if !r.Flow.PKCS11 {
		return ""
	}
	return fmt.Sprintf("key_store: pkcs11\npkcs11: {module: %q, token: \"pkcs11:token=%s\", pin: %q}\n",
		module, tokenLabel, "file:"+r.pinFile())
}

// softHSMEnv writes, for a PKCS#11 flow, a softhsm2 configuration at conf
// whose token folder is the one under stateDir, and returns the
// environment that points the module at it.
func (r *Recording) softHSMEnv(conf, stateDir string) ([]string, error) {
	if !r.Flow.PKCS11 {
		return nil, nil
	}
	if err := os.WriteFile(r.pinFile(), []byte(tokenPIN), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(conf, []byte(softhsm.Config(filepath.Join(stateDir, tokenFolder), "")), 0o600); err != nil {
		return nil, err
	}
	return []string{"SOFTHSM2_CONF=" + conf}, nil
}

// initToken makes the flow's token in the token folder under stateDir.
func initToken(t Tools, env []string, stateDir string) error {
	if err := os.MkdirAll(filepath.Join(stateDir, tokenFolder), 0o700); err != nil {
		return err
	}
	_, err := runTool(env, t.SoftHSM2Util, "--init-token", "--free", "--label", tokenLabel, "--so-pin", tokenSOPIN, "--pin", tokenPIN)
	return err
}

// tokenKeys is what the token holds, read with pkcs11-tool once the daemon
// has stopped.
type tokenKeys struct {
	private, public []tokenObject
}

type tokenObject struct{ label, id, ecPoint string }

func readToken(t Tools, env []string) (tokenKeys, error) {
	out, err := runTool(env, t.PKCS11Tool, "--module", t.PKCS11Module, "--token-label", tokenLabel,
		"--login", "--pin", tokenPIN, "--list-objects")
	if err != nil {
		return tokenKeys{}, err
	}
	return parseObjects(out), nil
}

// parseObjects reads pkcs11-tool --list-objects: a header line per object,
// then indented "name: value" lines.
func parseObjects(out string) tokenKeys {
	var k tokenKeys
	var cur *tokenObject
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(line, "Private Key Object"):
			k.private = append(k.private, tokenObject{})
			cur = &k.private[len(k.private)-1]
		case strings.HasPrefix(line, "Public Key Object"):
			k.public = append(k.public, tokenObject{})
			cur = &k.public[len(k.public)-1]
		case !strings.HasPrefix(line, " "):
			cur = nil
		case cur != nil:
			name, value, _ := strings.Cut(strings.TrimSpace(line), ":")
			value = strings.TrimSpace(value)
			switch name {
			case "label":
				cur.label = value
			case "ID":
				cur.id = value
			case "EC_POINT":
				cur.ecPoint = value
			}
		}
	}
	return k
}

// judge reports why the token is not as a registered identity leaves it:
// exactly one pair, the one credentials.json names, and (EC) its public
// key the certificate's. retired, when set, is the label of the identity
// handed over before a reprovision, whose pair is kept for a consumer
// still using it (store.State.Retired): at most one pair of it may stay.
func (k tokenKeys) judge(h handoff, retired string) string {
	if retired != "" {
		var kept int
		if k.private, kept = without(k.private, retired); kept > 1 {
			return fmt.Sprintf("the token holds %d private keys labelled %q, the retired identity's", kept, retired)
		}
		if k.public, kept = without(k.public, retired); kept > 1 {
			return fmt.Sprintf("the token holds %d public keys labelled %q, the retired identity's", kept, retired)
		}
	}
	if len(k.private) != 1 || len(k.public) > 1 {
		return fmt.Sprintf("the token holds %d private and %d public keys, want the identity's pair alone", len(k.private), len(k.public))
	}
	if k.private[0].label != h.PKCS11KeyLabel {
		return fmt.Sprintf("the token's key is %q, credentials.json names %q", k.private[0].label, h.PKCS11KeyLabel)
	}
	if len(k.public) == 0 {
		return ""
	}
	if pub := k.public[0]; pub.id != k.private[0].id {
		return fmt.Sprintf("the token's public key has id %s, its private key %s", pub.id, k.private[0].id)
	}
	cert, err := h.certificate()
	if err != nil {
		return err.Error()
	}
	if ec, ok := cert.PublicKey.(*ecdsa.PublicKey); ok {
		point, err := ec.Bytes()
		if err != nil {
			return err.Error()
		}
		if !strings.HasSuffix(k.public[0].ecPoint, hex.EncodeToString(point)) {
			return "the token's public key is not certificate " + short(h.CertificateID) + "'s"
		}
	}
	return ""
}

// without returns objs less those labelled label, and how many those were.
func without(objs []tokenObject, label string) ([]tokenObject, int) {
	var rest []tokenObject
	for _, o := range objs {
		if o.label != label {
			rest = append(rest, o)
		}
	}
	return rest, len(objs) - len(rest)
}

// retiredLabel is the token label of the identity a reprovision retired
// (state.json's retired), named as the handed-over identity's label is:
// the pkcs11.label setting, then the identity's folder. "" when none is.
func retiredLabel(stateDir string, h handoff) string {
	st, err := store.LoadState(store.ReadOnlyDir(stateDir))
	if err != nil || st.Retired == 0 {
		return ""
	}
	prefix, ok := strings.CutSuffix(h.PKCS11KeyLabel, ":"+store.IdentityDir(st.HandedOver))
	if !ok {
		return ""
	}
	return prefix + ":" + store.IdentityDir(st.Retired)
}

// runTool runs a token tool with env, bounded in time; its output names
// no PIN, so it goes into the error as it is.
func runTool(env []string, tool string, args ...string) (string, error) {
	if tool == "" {
		return "", errors.New("no PKCS#11 tool given (a PKCS#11 flow needs softhsm2-util and pkcs11-tool)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, tool, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s %s: %v: %s", filepath.Base(tool), args[0], err, lastLines(string(out), 3))
	}
	return string(out), nil
}

// wholeTokenFiles lists, for each file in the token folder, the contents
// softhsm2 leaves when it is not cut: as the recording began and ended,
// and for the token's own files (softhsm.TokenFiles) each complete
// rewrite, since each is a token softhsm2 reads. softhsm2 never syncs
// and rewrites a file in place (truncate, write) for each attribute it
// sets, so a cut may leave a file that is none of these: its own tear.
func wholeTokenFiles(initial, final *Tree, ops []Op) map[string]map[string]bool {
	whole := map[string]map[string]bool{}
	keep := func(path string, data []byte) {
		if !strings.HasPrefix(path, tokenFolder+"/") {
			return
		}
		if whole[path] == nil {
			whole[path] = map[string]bool{}
		}
		whole[path][string(data)] = true
	}
	for _, t := range []*Tree{initial, final} {
		for path, data := range t.Files {
			keep(path, data)
		}
	}
	for _, o := range ops {
		if o.Kind == Write && o.Off == 0 && softhsm.IsTokenFile(o.Path) {
			keep(o.Path, o.Data)
		}
	}
	return whole
}

// tornTokenFile returns a file of the token folder that a cut left torn:
// softhsm2's own loss, not the daemon's. Lock files are always empty.
func tornTokenFile(t *Tree, whole map[string]map[string]bool) string {
	for _, path := range t.sortedFiles() {
		if !strings.HasPrefix(path, tokenFolder+"/") || strings.HasSuffix(path, ".lock") {
			continue
		}
		if versions, ok := whole[path]; ok && !versions[string(t.Files[path])] {
			return path
		}
	}
	return ""
}
