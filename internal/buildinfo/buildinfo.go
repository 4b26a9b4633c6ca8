// Package buildinfo is what a binary says of its own build: the version
// and commit the packaging stamped, the Go toolchain, and the modules
// linked in, from the build info Go embeds. It is the contract of
// `provisiond version --json`.
package buildinfo

import "runtime/debug"

// Report is the contract of `version --json`.
type Report struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	// Go is the toolchain the binary was built with.
	Go string `json:"go"`
	// Modules are the modules linked into the binary, from its build info:
	// what a security notice about a dependency is checked against.
	Modules []Module `json:"modules"`
}

// Module is one linked module.
type Module struct {
	Path    string `json:"path"`
	Version string `json:"version"`
	Sum     string `json:"sum,omitempty"`
}

// Read reads the binary's build info. commit is the one the packaging
// stamped; a plain `go build` in a checkout has Go's own VCS stamp instead,
// and a build from a source archive has neither ("unknown").
func Read(version, commit string) Report {
	r := Report{Version: version, Commit: commit, Modules: []Module{}}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		r.Go = "unknown"
	} else {
		r.Go = info.GoVersion
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && r.Commit == "" {
				r.Commit = s.Value
			}
		}
		for _, m := range info.Deps {
			if m.Replace != nil {
				m = m.Replace
			}
			r.Modules = append(r.Modules, Module{Path: m.Path, Version: m.Version, Sum: m.Sum})
		}
	}
	if r.Commit == "" {
		r.Commit = "unknown"
	}
	return r
}
