package awsapi

import (
	"encoding/json"
	"errors"
	"io/fs"
	"maps"
	"net/url"
	"os"
	"slices"

	"github.com/provisiond/provisiond/internal/atomicfile"
	"github.com/provisiond/provisiond/internal/fleetsim/registry"
	"github.com/provisiond/provisiond/internal/fleetsim/template"
)

// Templates: those in D/templates/ and those created over the API are one set. A name
// is in one place or the other; the folder's are changed and deleted in the folder (their
// settings file), the API's in the templates table.

// templateInfo is a template as the API describes it: one of the folder's, or one
// created over the API.
type templateInfo struct {
	registry.TemplateRecord
	inFolder bool
}

// changingTemplates runs an operation that changes templates under the API's template
// lock. Each such operation changes two places, the registry (or the folder) and the set
// RegisterThing uses (Service.UseTemplate, ReloadTemplates); one at a time, the last
// operation's change is the last in both, so describe and RegisterThing never disagree
// once concurrent changes end.
func (a *Server) changingTemplates(h apiHandler) apiHandler {
	return func(q apiRequest) (any, *restError) {
		a.templatesMu.Lock()
		defer a.templatesMu.Unlock()
		return h(q)
	}
}

// defaultRoleARN is what a folder template reports as its provisioning role.
const defaultRoleARN = "arn:aws:iam::" + apiAccount + ":role/FleetsimProvisioningRole"

// readTemplate finds a template by name in the folder or the registry.
func (a *Server) readTemplate(name string) (templateInfo, bool, error) {
	path := template.BodyFile(a.TemplatesDir, name)
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		r, ok, err := a.Registry.Template(name)
		return templateInfo{TemplateRecord: r}, ok, err
	}
	if err != nil {
		return templateInfo{}, false, err
	}
	body, err := os.ReadFile(path)
	if err != nil {
		return templateInfo{}, false, err
	}
	t := templateInfo{TemplateRecord: registry.TemplateRecord{Name: name, Body: string(body), Enabled: true,
		RoleARN: defaultRoleARN, Version: 1, Created: st.ModTime(), Modified: st.ModTime()}, inFolder: true}
	sp := template.SettingsFile(a.TemplatesDir, name)
	if sb, err := os.ReadFile(sp); err == nil {
		set, err := template.ParseSettings(sp, sb)
		if err != nil {
			return t, false, err
		}
		t.Enabled = set.Enabled
		if set.PreProvisioningHook != nil {
			t.HookURL = set.PreProvisioningHook.URL
		}
		if sst, err := os.Stat(sp); err == nil && sst.ModTime().After(t.Modified) {
			t.Modified = sst.ModTime()
		}
	}
	return t, true, nil
}

// inFolder says whether the folder has a template of that name.
func (a *Server) inFolder(name string) bool {
	_, err := os.Stat(template.BodyFile(a.TemplatesDir, name))
	return err == nil
}

type hookJSON struct {
	PayloadVersion string `json:"payloadVersion,omitempty"`
	TargetArn      string `json:"targetArn"`
}

// checkHook: the emulator calls hooks over HTTP, so a hook's targetArn is its URL.
func checkHook(h *hookJSON) *restError {
	if h == nil {
		return nil
	}
	u, err := url.Parse(h.TargetArn)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return invalid("preProvisioningHook.targetArn %q: the emulator calls hooks over HTTP, so it must be an http or https URL", shown(h.TargetArn))
	}
	return nil
}

func (a *Server) templateParam(q apiRequest) (string, *restError) {
	name := q.path("templateName")
	return name, checkName("templateName", name, templateNameRE)
}

func (a *Server) createTemplate(q apiRequest) (any, *restError) {
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
		return nil, invalid("type %q is not supported by the emulator: only FLEET_PROVISIONING", shown(in.Type))
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
	if a.inFolder(name) {
		return nil, a.templateExists(name)
	}
	now := a.now()
	aerr := a.write(func(tx *registry.Tx) error {
		if _, ok, err := tx.Template(name); err != nil || ok {
			if ok {
				return a.templateExists(name)
			}
			return err
		}
		return tx.InsertTemplate(registry.TemplateRecord{Name: name, Body: *in.TemplateBody, Description: in.Description,
			Enabled: enabled, HookURL: hook, RoleARN: in.ProvisioningRoleArn, Created: now, Modified: now})
	})
	if aerr != nil {
		return nil, aerr
	}
	a.Service.UseTemplate(name, tpl, enabled, hook)
	return map[string]any{"templateArn": TemplateARN(name), "templateName": name, "defaultVersionId": 1}, nil
}

func (a *Server) templateExists(name string) *restError {
	e := apiErr(409, "ResourceAlreadyExistsException", "Template %s already exists.", name)
	e.extra = map[string]string{"resourceId": name, "resourceArn": TemplateARN(name)}
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

func (a *Server) listTemplates(_ apiRequest, p registry.Page) (any, string, *restError) {
	names := map[string]bool{}
	if ents, err := os.ReadDir(a.TemplatesDir); err == nil {
		for _, e := range ents {
			if n, ok := template.NameOfBodyFile(e.Name()); ok && template.ValidTemplateName(n) {
				names[n] = true
			}
		}
	}
	recs, err := a.Registry.Templates()
	if err != nil {
		return nil, "", internalErr(err)
	}
	for _, r := range recs {
		names[r.Name] = true
	}
	sorted := slices.Sorted(maps.Keys(names))
	out := []templateSummary{}
	next := ""
	for _, n := range sorted {
		if n <= p.After {
			continue
		}
		if len(out) == p.Size {
			next = out[p.Size-1].TemplateName
			break
		}
		t, ok, err := a.readTemplate(n)
		if err != nil || !ok {
			continue // removed meanwhile, or a broken settings file the log already names
		}
		out = append(out, templateSummary{TemplateARN(n), n, t.Description,
			epoch(t.Created), epoch(t.Modified), t.Enabled, "FLEET_PROVISIONING"})
	}
	return out, next, nil
}

func (a *Server) describeTemplate(q apiRequest) (any, *restError) {
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
	out := map[string]any{"templateArn": TemplateARN(name), "templateName": name, "description": t.Description,
		"creationDate": epoch(t.Created), "lastModifiedDate": epoch(t.Modified), "defaultVersionId": t.Version,
		"templateBody": t.Body, "enabled": t.Enabled, "provisioningRoleArn": t.RoleARN, "type": "FLEET_PROVISIONING"}
	if t.HookURL != "" {
		out["preProvisioningHook"] = hookJSON{PayloadVersion: "2020-04-01", TargetArn: t.HookURL}
	}
	return out, nil
}

func (a *Server) updateTemplate(q apiRequest) (any, *restError) {
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
	if in.DefaultVersionID != nil && *in.DefaultVersionID != t.Version {
		return nil, invalid("defaultVersionId %d does not exist: the emulator keeps only the default version, %d", *in.DefaultVersionID, t.Version)
	}
	if in.Enabled != nil {
		t.Enabled = *in.Enabled
	}
	if in.PreProvisioningHook != nil {
		t.HookURL = in.PreProvisioningHook.TargetArn
	}
	if in.RemovePreProvisioningHook {
		t.HookURL = ""
	}
	if t.inFolder {
		// The folder owns its templates: the change goes to the settings file.
		set := template.Settings{Enabled: t.Enabled}
		if t.HookURL != "" {
			set.PreProvisioningHook = &template.Hook{URL: t.HookURL}
		}
		b, _ := json.MarshalIndent(set, "", "  ")
		if err := atomicfile.Write(template.SettingsFile(a.TemplatesDir, name), append(b, '\n'), 0o644); err != nil {
			return nil, internalErr(err)
		}
		a.Service.ReloadTemplates()
		return nil, nil
	}
	if in.Description != nil {
		t.Description = *in.Description
	}
	if in.ProvisioningRoleArn != nil {
		t.RoleARN = *in.ProvisioningRoleArn
	}
	return nil, a.storeTemplate(t)
}

// storeTemplate writes an API template's new state and puts it in use.
func (a *Server) storeTemplate(t templateInfo) *restError {
	tpl, err := template.Parse("template "+t.Name, []byte(t.Body))
	if err != nil {
		return invalid("%v", err)
	}
	t.Modified = a.now()
	aerr := a.write(func(tx *registry.Tx) error {
		ok, err := tx.UpdateTemplate(t.TemplateRecord)
		if err == nil && !ok {
			return apiErr(409, "ConflictingResourceUpdateException", "Template %s was deleted meanwhile.", t.Name)
		}
		return err
	})
	if aerr != nil {
		return aerr
	}
	a.Service.UseTemplate(t.Name, tpl, t.Enabled, t.HookURL)
	return nil
}

func (a *Server) deleteTemplate(q apiRequest) (any, *restError) {
	name, aerr := a.templateParam(q)
	if aerr != nil {
		return nil, aerr
	}
	if a.inFolder(name) {
		for _, f := range []string{template.SettingsFile(a.TemplatesDir, name), template.BodyFile(a.TemplatesDir, name)} {
			if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, internalErr(err)
			}
		}
		a.Service.ReloadTemplates()
		return nil, nil
	}
	aerr = a.write(func(tx *registry.Tx) error {
		ok, err := tx.DeleteTemplate(name)
		if err == nil && !ok {
			return notFound("Template %s cannot be found.", name)
		}
		return err
	})
	if aerr != nil {
		return nil, aerr
	}
	a.Service.UseTemplate(name, nil, false, "")
	return nil, nil
}

// createTemplateVersion is CreateProvisioningTemplateVersion: a new body. The emulator
// keeps only the default version, so the new one must be made the default.
func (a *Server) createTemplateVersion(q apiRequest) (any, *restError) {
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
	version := t.Version + 1
	if t.inFolder {
		// The folder owns its templates: the new body replaces the file.
		if err := atomicfile.Write(template.BodyFile(a.TemplatesDir, name), []byte(*in.TemplateBody), 0o644); err != nil {
			return nil, internalErr(err)
		}
		a.Service.ReloadTemplates()
		version = 1
	} else {
		t.Body, t.Version = *in.TemplateBody, version
		if aerr := a.storeTemplate(t); aerr != nil {
			return nil, aerr
		}
	}
	return map[string]any{"templateArn": TemplateARN(name), "templateName": name, "versionId": version,
		"isDefaultVersion": true}, nil
}
