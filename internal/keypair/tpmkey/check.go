package tpmkey

// Check is the offline `provisiond check` of the tpm settings: the device
// opens, the parent exists or can be made, and tpm.handle is free or holds
// a key provisiond made. The error is an *Error naming the setting.
func Check(s Settings) error {
	t, err := Open(s)
	if err != nil {
		return err
	}
	defer t.Close()
	t.mu.Lock()
	defer t.mu.Unlock()
	p, err := t.settingsParent()
	if err != nil {
		return err
	}
	p.release()
	return t.checkHandle()
}
