package fleetsim

import (
	"errors"
	"io/fs"
	"os"

	"github.com/provisiond/provisiond/internal/fleetsim/template"
)

// tmplEntry is one loaded provisioning template and its settings.
type tmplEntry struct {
	name    string
	tpl     *template.Template
	enabled bool
	hookURL string
}

// loadTemplates reads dir/<Name>.json and their settings. A missing folder means none.
func loadTemplates(dir string) (map[string]*tmplEntry, error) {
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return map[string]*tmplEntry{}, nil
	}
	loaded, err := template.LoadDir(dir)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*tmplEntry, len(loaded))
	for name, l := range loaded {
		e := &tmplEntry{name: name, tpl: l.Template, enabled: l.Settings.Enabled}
		if l.Settings.PreProvisioningHook != nil {
			e.hookURL = l.Settings.PreProvisioningHook.URL
		}
		out[name] = e
	}
	return out, nil
}
