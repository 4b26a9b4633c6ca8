package check

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/provisiond/provisiond/internal/config"
	"github.com/provisiond/provisiond/internal/keypair/p11key"
	"github.com/provisiond/provisiond/internal/store"
)

// PKCS11 is the offline check's pkcs11 line with key_store: pkcs11: the
// module loads, the token is found and takes the PIN (one login: a PIN the
// token refuses is not tried again by this check), its mechanisms for the
// key types, and whether the key the state records is in the token; "" with
// another key store. It never shows the PIN.
func PKCS11(cfg *config.Config) (string, error) {
	if cfg.KeyStore != config.KeyStorePKCS11 {
		return "", nil
	}
	token, err := p11key.OpenToken(cfg.PKCS11)
	if err != nil {
		return "", fmt.Errorf("pkcs11: %w", err)
	}
	defer token.Close()
	if types := token.KeyTypes(); !strings.Contains(" "+strings.Join(types, " ")+" ", " "+cfg.KeyType+" ") {
		return "", fmt.Errorf("pkcs11: key_type: %s cannot make %s keys (it can make: %s)", token.Info(), cfg.KeyType, orNone(types))
	}
	return fmt.Sprintf("pkcs11: ok (module %s, %s, mechanisms %s, %s)", cfg.PKCS11.Module, token.Info(),
		strings.Join(token.Mechanisms(), " "), keyPresence(cfg, token)), nil
}

// keyPresence says whether the key the state records is in the token.
func keyPresence(cfg *config.Config, token *p11key.Token) string {
	st, err := store.LoadState(store.ReadOnlyDir(cfg.StateDirectory))
	if err != nil || st.KeyID == "" {
		return "no key made yet"
	}
	id, err := hex.DecodeString(st.KeyID)
	if err != nil {
		return "the state's key id is not hex"
	}
	_, err = token.Find(id)
	switch {
	case err == nil:
		return "key " + st.KeyLabel + " present"
	case errors.Is(err, p11key.ErrHalfPair):
		return "key " + st.KeyLabel + " half made (the daemon makes it again)"
	case errors.Is(err, p11key.ErrNoKey):
		return "key " + st.KeyLabel + " missing (the daemon makes a new one)"
	}
	return "key " + st.KeyLabel + ": " + err.Error()
}

func orNone(list []string) string {
	if len(list) == 0 {
		return "none"
	}
	return strings.Join(list, ", ")
}
