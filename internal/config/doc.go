// Package config reads provisiond's YAML config file, fills in defaults and
// validates it, naming the file, line and field of anything wrong.
package config
