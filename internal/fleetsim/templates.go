package fleetsim

import (
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/provisiond/provisiond/internal/fleetsim/registry"
	"github.com/provisiond/provisiond/internal/fleetsim/template"
	"go.uber.org/zap"
)

// tmplEntry is one loaded provisioning template and its settings.
type tmplEntry struct {
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
		e := &tmplEntry{tpl: l.Template, enabled: l.Settings.Enabled}
		if l.Settings.PreProvisioningHook != nil {
			e.hookURL = l.Settings.PreProvisioningHook.URL
		}
		out[name] = e
	}
	return out, nil
}

// templateSet is the templates in use, reloaded when the folder changes so that a user can
// drop in or edit a template without restarting the emulator. A folder that no longer
// loads keeps the previous templates in use, and says why in the log.
type templateSet struct {
	dir   string
	log   *zap.Logger
	every time.Duration // how often the folder is looked at, at most

	mu      sync.Mutex
	entries map[string]*tmplEntry // the folder's
	api     map[string]*tmplEntry // created over the API, in registry.db
	stamp   uint64                // of the folder the entries came from
	checked time.Time
}

func newTemplateSet(dir string, log *zap.Logger, now time.Time) (*templateSet, error) {
	entries, err := loadTemplates(dir)
	if err != nil {
		return nil, err
	}
	stamp, _ := folderStamp(dir)
	return &templateSet{dir: dir, log: log, every: time.Second, entries: entries, api: map[string]*tmplEntry{}, stamp: stamp, checked: now}, nil
}

// get returns a template by name, reloading the folder first if it changed.
func (t *templateSet) get(name string, now time.Time) (*tmplEntry, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if now.Sub(t.checked) >= t.every || now.Before(t.checked) {
		t.checked = now
		if stamp, err := folderStamp(t.dir); err == nil && stamp != t.stamp {
			entries, err := loadTemplates(t.dir)
			if err != nil {
				t.log.Error("templates changed but do not load; keeping the previous ones", zap.Error(err))
			} else {
				t.log.Info("templates reloaded", zap.Int("templates", len(entries)))
				t.entries = entries
			}
			t.stamp = stamp
		}
	}
	if e, ok := t.entries[name]; ok {
		return e, true
	}
	e, ok := t.api[name]
	return e, ok
}

// setAPI records a template created or changed over the API; nil forgets it.
func (t *templateSet) setAPI(name string, e *tmplEntry) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e == nil {
		delete(t.api, name)
		return
	}
	t.api[name] = e
}

// reload makes the next get look at the folder, after the API changed it.
func (t *templateSet) reload() {
	t.mu.Lock()
	t.checked = time.Time{}
	t.stamp = 0
	t.mu.Unlock()
}

func (t *templateSet) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.entries) + len(t.api)
}

// folderStamp summarises the names, sizes and times of the files in dir.
func folderStamp(dir string) (uint64, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name() < ents[j].Name() })
	h := fnv.New64a()
	for _, e := range ents {
		info, err := e.Info()
		if err != nil {
			continue
		}
		fmt.Fprintf(h, "%s\x00%d\x00%d\x00", e.Name(), info.Size(), info.ModTime().UnixNano())
	}
	return h.Sum64(), nil
}

// loadDBTemplates reads the templates created over the API, for the template set.
func loadDBTemplates(reg *registry.Store) (map[string]*tmplEntry, error) {
	recs, err := reg.Templates()
	if err != nil {
		return nil, err
	}
	out := make(map[string]*tmplEntry, len(recs))
	for _, r := range recs {
		tpl, err := template.Parse("template "+r.Name+" in "+registry.File, []byte(r.Body))
		if err != nil {
			return nil, err
		}
		out[r.Name] = &tmplEntry{tpl: tpl, enabled: r.Enabled, hookURL: r.HookURL}
	}
	return out, nil
}
