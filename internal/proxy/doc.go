// Package proxy carries the daemon's connections to the endpoint through an
// HTTP or HTTPS proxy with HTTP CONNECT, as corporate networks require. The
// settings come from the config's proxy and proxy_ca keys or, by default,
// from HTTPS_PROXY and NO_PROXY with the semantics of golang.org/x/net's
// httpproxy. Errors from the proxy say whether retrying may help, and
// never show the proxy password.
package proxy
