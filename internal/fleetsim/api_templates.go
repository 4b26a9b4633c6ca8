package fleetsim

import (
	"database/sql"
	"encoding/json"
	"errors"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/provisiond/provisiond/internal/atomicfile"
	"github.com/provisiond/provisiond/internal/fleetsim/template"
)

// Templates: those in D/templates/ and those created over the API are one set. A name
// is in one place or the other; the folder's are changed and deleted in the folder (their
// settings file), the API's in the templates table.

// templateInfo is a template as the API describes it.
type templateInfo struct {
	name, body, description, hookURL, roleARN string
	enabled                                   bool
	version                                   int
	created, modified                         time.Time
	inFolder                                  bool
}

// defaultRoleARN is what a folder template reports as its provisioning role.
const defaultRoleARN = "arn:aws:iam::" + apiAccount + ":role/FleetsimProvisioningRole"

// readTemplate finds a template by name in the folder or the database.
func (a *apiServer) readTemplate(name string) (templateInfo, bool, error) {
	dir := a.s.templates.dir
	path := filepath.Join(dir, name+".json")
	if st, err := os.Stat(path); err == nil {
		body, err := os.ReadFile(path)
		if err != nil {
			return templateInfo{}, false, err
		}
		t := templateInfo{name: name, body: string(body), enabled: true, roleARN: defaultRoleARN, version: 1,
			created: st.ModTime(), modified: st.ModTime(), inFolder: true}
		sp := filepath.Join(dir, name+".settings.json")
		if sb, err := os.ReadFile(sp); err == nil {
			set, err := template.ParseSettings(sp, sb)
			if err != nil {
				return t, false, err
			}
			t.enabled = set.Enabled
			if set.PreProvisioningHook != nil {
				t.hookURL = set.PreProvisioningHook.URL
			}
			if sst, err := os.Stat(sp); err == nil && sst.ModTime().After(t.modified) {
				t.modified = sst.ModTime()
			}
		}
		return t, true, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return templateInfo{}, false, err
	}
	return readDBTemplate(a.s.reg.rdb, name)
}

func readDBTemplate(q querier, name string) (templateInfo, bool, error) {
	t := templateInfo{name: name}
	var created, modified int64
	err := q.QueryRow(`SELECT body, description, enabled, hook_url, role_arn, version, created_at, modified_at FROM templates WHERE name = ?`, name).
		Scan(&t.body, &t.description, &t.enabled, &t.hookURL, &t.roleARN, &t.version, &created, &modified)
	if errors.Is(err, sql.ErrNoRows) {
		return t, false, nil
	}
	t.created, t.modified = time.Unix(0, created), time.Unix(0, modified)
	return t, err == nil, err
}

// loadDBTemplates reads the API's templates for the template set.
func loadDBTemplates(q querier) (map[string]*tmplEntry, error) {
	rows, err := q.Query(`SELECT name, body, enabled, hook_url FROM templates`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]*tmplEntry{}
	for rows.Next() {
		var name, body, hook string
		var enabled bool
		if err := rows.Scan(&name, &body, &enabled, &hook); err != nil {
			return nil, err
		}
		tpl, err := template.Parse("template "+name+" in registry.db", []byte(body))
		if err != nil {
			return nil, err
		}
		out[name] = &tmplEntry{tpl: tpl, enabled: enabled, hookURL: hook}
	}
	return out, rows.Err()
}

type hookJSON struct {
	PayloadVersion string `json:"payloadVersion,omitempty"`
	TargetArn      string `json:"targetArn"`
}

// checkHook: the emulator calls hooks over HTTP, so a hook's targetArn is its URL.
func checkHook(h *hookJSON) *awsError {
	if h == nil {
		return nil
	}
	u, err := url.Parse(h.TargetArn)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return invalid("preProvisioningHook.targetArn %q: the emulator calls hooks over HTTP, so it must be an http or https URL", h.TargetArn)
	}
	return nil
}

func (a *apiServer) templateParam(q apiRequest) (string, *awsError) {
	name := q.path("templateName")
	return name, checkName("templateName", name, templateNameRE)
}

func (a *apiServer) createTemplate(q apiRequest) (any, *awsError) {
	var in struct {
		TemplateName        string    `json:"templateName"`
		Description         string    `json:"description"`
		TemplateBody        *string   `json:"templateBody"`
		Enabled             *bool     `json:"enabled"`
		ProvisioningRoleArn string    `json:"provisioningRoleArn"`
		PreProvisioningHook *hookJSON `json:"preProvisioningHook"`
		Type                string    `json:"type"`
	}
	if aerr := q.decodeJSON(&in); aerr != nil {
		return nil, aerr
	}
	if aerr := checkName("templateName", in.TemplateName, templateNameRE); aerr != nil {
		return nil, aerr
	}
	switch {
	case in.TemplateBody == nil:
		return nil, invalid("templateBody is required")
	case len(*in.TemplateBody) > 10240:
		return nil, invalid("templateBody is over 10240 characters")
	case len(in.Description) > 500:
		return nil, invalid("description is over 500 characters")
	case len(in.ProvisioningRoleArn) < 20 || len(in.ProvisioningRoleArn) > 2048:
		return nil, invalid("provisioningRoleArn must be 20 to 2048 characters")
	case in.Type != "" && in.Type != "FLEET_PROVISIONING":
		return nil, invalid("type %q is not supported by the emulator: only FLEET_PROVISIONING", in.Type)
	}
	if aerr := checkHook(in.PreProvisioningHook); aerr != nil {
		return nil, aerr
	}
	tpl, err := template.Parse("templateBody", []byte(*in.TemplateBody))
	if err != nil {
		return nil, invalid("%v", err)
	}
	enabled := in.Enabled != nil && *in.Enabled // AWS creates templates disabled by default
	hook := ""
	if in.PreProvisioningHook != nil {
		hook = in.PreProvisioningHook.TargetArn
	}
	name := in.TemplateName
	if _, err := os.Stat(filepath.Join(a.s.templates.dir, name+".json")); err == nil {
		return nil, a.templateExists(name)
	}
	var aerr *awsError
	now := a.s.now().UnixNano()
	err = a.s.reg.write(func(tx dbtx) error {
		if _, ok, err := readDBTemplate(tx, name); err != nil || ok {
			if ok {
				aerr = a.templateExists(name)
				return aerr
			}
			return err
		}
		_, err := tx.Exec(`INSERT INTO templates(name, body, description, enabled, hook_url, role_arn, created_at, modified_at)
			VALUES(?,?,?,?,?,?,?,?)`, name, *in.TemplateBody, in.Description, enabled, hook, in.ProvisioningRoleArn, now, now)
		return err
	})
	if aerr != nil {
		return nil, aerr
	}
	if err != nil {
		return nil, internalErr(err)
	}
	a.s.templates.setAPI(name, &tmplEntry{tpl: tpl, enabled: enabled, hookURL: hook})
	return map[string]any{"templateArn": templateARN(name), "templateName": name, "defaultVersionId": 1}, nil
}

func (a *apiServer) templateExists(name string) *awsError {
	e := apiErr(409, "ResourceAlreadyExistsException", "Template %s already exists.", name)
	e.extra = map[string]string{"resourceId": name, "resourceArn": templateARN(name)}
	return e
}

type templateSummary struct {
	TemplateArn      string  `json:"templateArn"`
	TemplateName     string  `json:"templateName"`
	Description      string  `json:"description"`
	CreationDate     float64 `json:"creationDate"`
	LastModifiedDate float64 `json:"lastModifiedDate"`
	Enabled          bool    `json:"enabled"`
	Type             string  `json:"type"`
}

func (a *apiServer) listTemplates(q apiRequest) (any, *awsError) {
	p, aerr := q.pageOf("maxResults", "nextToken")
	if aerr != nil {
		return nil, aerr
	}
	names := map[string]bool{}
	if ents, err := os.ReadDir(a.s.templates.dir); err == nil {
		for _, e := range ents {
			n := e.Name()
			if base, ok := cutJSON(n); ok && template.ValidTemplateName(base) {
				names[base] = true
			}
		}
	}
	if err := eachPair(a.s.reg.rdb, `SELECT '', name FROM templates`, func(_, n string) { names[n] = true }); err != nil {
		return nil, internalErr(err)
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		if n > p.after {
			sorted = append(sorted, n)
		}
	}
	sort.Strings(sorted)
	out := struct {
		Templates []templateSummary `json:"templates"`
		NextToken string            `json:"nextToken,omitempty"`
	}{Templates: []templateSummary{}}
	for _, n := range sorted {
		if len(out.Templates) == p.size {
			out.NextToken = nextToken(out.Templates[p.size-1].TemplateName)
			break
		}
		t, ok, err := a.readTemplate(n)
		if err != nil || !ok {
			continue // removed meanwhile, or a broken settings file the log already names
		}
		out.Templates = append(out.Templates, templateSummary{templateARN(n), n, t.description,
			epoch(t.created), epoch(t.modified), t.enabled, "FLEET_PROVISIONING"})
	}
	return out, nil
}

// cutJSON is the template name of a template file name (not a settings file).
func cutJSON(file string) (string, bool) {
	if len(file) > len(".settings.json") && file[len(file)-len(".settings.json"):] == ".settings.json" {
		return "", false
	}
	if len(file) > 5 && file[len(file)-5:] == ".json" {
		return file[:len(file)-5], true
	}
	return "", false
}

func (a *apiServer) describeTemplate(q apiRequest) (any, *awsError) {
	name, aerr := a.templateParam(q)
	if aerr != nil {
		return nil, aerr
	}
	t, ok, err := a.readTemplate(name)
	if err != nil {
		return nil, internalErr(err)
	}
	if !ok {
		return nil, notFound("Template %s cannot be found.", name)
	}
	out := map[string]any{"templateArn": templateARN(name), "templateName": name, "description": t.description,
		"creationDate": epoch(t.created), "lastModifiedDate": epoch(t.modified), "defaultVersionId": t.version,
		"templateBody": t.body, "enabled": t.enabled, "provisioningRoleArn": t.roleARN, "type": "FLEET_PROVISIONING"}
	if t.hookURL != "" {
		out["preProvisioningHook"] = hookJSON{PayloadVersion: "2020-04-01", TargetArn: t.hookURL}
	}
	return out, nil
}

func (a *apiServer) updateTemplate(q apiRequest) (any, *awsError) {
	name, aerr := a.templateParam(q)
	if aerr != nil {
		return nil, aerr
	}
	var in struct {
		Description               *string   `json:"description"`
		Enabled                   *bool     `json:"enabled"`
		DefaultVersionID          *int      `json:"defaultVersionId"`
		ProvisioningRoleArn       *string   `json:"provisioningRoleArn"`
		PreProvisioningHook       *hookJSON `json:"preProvisioningHook"`
		RemovePreProvisioningHook bool      `json:"removePreProvisioningHook"`
	}
	if aerr := q.decodeJSON(&in); aerr != nil {
		return nil, aerr
	}
	if aerr := checkHook(in.PreProvisioningHook); aerr != nil {
		return nil, aerr
	}
	if in.Description != nil && len(*in.Description) > 500 {
		return nil, invalid("description is over 500 characters")
	}
	if in.ProvisioningRoleArn != nil && (len(*in.ProvisioningRoleArn) < 20 || len(*in.ProvisioningRoleArn) > 2048) {
		return nil, invalid("provisioningRoleArn must be 20 to 2048 characters")
	}
	t, ok, err := a.readTemplate(name)
	if err != nil {
		return nil, internalErr(err)
	}
	if !ok {
		return nil, notFound("Template %s cannot be found.", name)
	}
	if in.DefaultVersionID != nil && *in.DefaultVersionID != t.version {
		return nil, invalid("defaultVersionId %d does not exist: the emulator keeps only the default version, %d", *in.DefaultVersionID, t.version)
	}
	if in.Enabled != nil {
		t.enabled = *in.Enabled
	}
	if in.PreProvisioningHook != nil {
		t.hookURL = in.PreProvisioningHook.TargetArn
	}
	if in.RemovePreProvisioningHook {
		t.hookURL = ""
	}
	if t.inFolder {
		// The folder owns its templates: the change goes to the settings file.
		set := template.Settings{Enabled: t.enabled}
		if t.hookURL != "" {
			set.PreProvisioningHook = &template.Hook{URL: t.hookURL}
		}
		b, _ := json.MarshalIndent(set, "", "  ")
		if err := atomicfile.Write(filepath.Join(a.s.templates.dir, name+".settings.json"), append(b, '\n'), 0o644); err != nil {
			return nil, internalErr(err)
		}
		a.s.templates.reload()
		return nil, nil
	}
	if in.Description != nil {
		t.description = *in.Description
	}
	if in.ProvisioningRoleArn != nil {
		t.roleARN = *in.ProvisioningRoleArn
	}
	return nil, a.storeTemplate(t)
}

// storeTemplate writes an API template's new state and puts it in use.
func (a *apiServer) storeTemplate(t templateInfo) *awsError {
	tpl, err := template.Parse("template "+t.name, []byte(t.body))
	if err != nil {
		return invalid("%v", err)
	}
	var aerr *awsError
	err = a.s.reg.write(func(tx dbtx) error {
		res, err := tx.Exec(`UPDATE templates SET body = ?, description = ?, enabled = ?, hook_url = ?, role_arn = ?, version = ?,
			modified_at = ? WHERE name = ?`,
			t.body, t.description, t.enabled, t.hookURL, t.roleARN, t.version, a.s.now().UnixNano(), t.name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			aerr = apiErr(409, "ConflictingResourceUpdateException", "Template %s was deleted meanwhile.", t.name)
			return aerr
		}
		return nil
	})
	if aerr != nil {
		return aerr
	}
	if err != nil {
		return internalErr(err)
	}
	a.s.templates.setAPI(t.name, &tmplEntry{tpl: tpl, enabled: t.enabled, hookURL: t.hookURL})
	return nil
}

func (a *apiServer) deleteTemplate(q apiRequest) (any, *awsError) {
	name, aerr := a.templateParam(q)
	if aerr != nil {
		return nil, aerr
	}
	dir := a.s.templates.dir
	if _, err := os.Stat(filepath.Join(dir, name+".json")); err == nil {
		for _, f := range []string{name + ".settings.json", name + ".json"} {
			if err := os.Remove(filepath.Join(dir, f)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, internalErr(err)
			}
		}
		a.s.templates.reload()
		return nil, nil
	}
	var n int64
	err := a.s.reg.write(func(tx dbtx) error {
		res, err := tx.Exec(`DELETE FROM templates WHERE name = ?`, name)
		if err == nil {
			n, _ = res.RowsAffected()
		}
		return err
	})
	if err != nil {
		return nil, internalErr(err)
	}
	if n == 0 {
		return nil, notFound("Template %s cannot be found.", name)
	}
	a.s.templates.setAPI(name, nil)
	return nil, nil
}

// createTemplateVersion is CreateProvisioningTemplateVersion: a new body. The emulator
// keeps only the default version, so the new one must be made the default.
func (a *apiServer) createTemplateVersion(q apiRequest) (any, *awsError) {
	name, aerr := a.templateParam(q)
	if aerr != nil {
		return nil, aerr
	}
	setDefault, aerr := q.boolQuery("setAsDefault")
	if aerr != nil {
		return nil, aerr
	}
	var in struct {
		TemplateBody *string `json:"templateBody"`
	}
	if aerr := q.decodeJSON(&in); aerr != nil {
		return nil, aerr
	}
	switch {
	case in.TemplateBody == nil:
		return nil, invalid("templateBody is required")
	case len(*in.TemplateBody) > 10240:
		return nil, invalid("templateBody is over 10240 characters")
	case !setDefault:
		return nil, invalid("the emulator keeps only the default version of a template: pass setAsDefault=true")
	}
	// Checked first: a folder template's file is written as is.
	if _, err := template.Parse("templateBody", []byte(*in.TemplateBody)); err != nil {
		return nil, invalid("%v", err)
	}
	t, ok, err := a.readTemplate(name)
	if err != nil {
		return nil, internalErr(err)
	}
	if !ok {
		return nil, notFound("Template %s cannot be found.", name)
	}
	version := t.version + 1
	if t.inFolder {
		// The folder owns its templates: the new body replaces the file.
		if err := atomicfile.Write(filepath.Join(a.s.templates.dir, name+".json"), []byte(*in.TemplateBody), 0o644); err != nil {
			return nil, internalErr(err)
		}
		a.s.templates.reload()
		version = 1
	} else {
		t.body, t.version = *in.TemplateBody, version
		if aerr := a.storeTemplate(t); aerr != nil {
			return nil, aerr
		}
	}
	return map[string]any{"templateArn": templateARN(name), "templateName": name, "versionId": version,
		"isDefaultVersion": true}, nil
}
