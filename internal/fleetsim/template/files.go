package template

import (
	"path/filepath"
	"strings"
)

// A folder of templates holds <Name>.json, the template's body, and beside it an
// optional <Name>.settings.json.
const (
	bodySuffix     = ".json"
	settingsSuffix = ".settings.json"
)

// BodyFile is the path of the template name's body in the folder dir.
func BodyFile(dir, name string) string { return filepath.Join(dir, name+bodySuffix) }

// SettingsFile is the path of the template name's settings in the folder dir.
func SettingsFile(dir, name string) string { return filepath.Join(dir, name+settingsSuffix) }

// NameOfBodyFile is the template name of a body file's name ("GatewayTemplate.json"), and
// false for any other file, settings files included. The name is not checked (see ValidTemplateName).
func NameOfBodyFile(file string) (string, bool) {
	if strings.HasSuffix(file, settingsSuffix) {
		return "", false
	}
	return strings.CutSuffix(file, bodySuffix)
}

// nameOfSettingsFile is the template name of a settings file's name.
func nameOfSettingsFile(file string) (string, bool) {
	return strings.CutSuffix(file, settingsSuffix)
}
