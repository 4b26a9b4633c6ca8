package proxy

import (
	"errors"
	"io"
	"net"
	"strings"
)

// maxShown bounds how much of a proxy's own words an error keeps.
const maxShown = 120

// authSchemes are the words after which a proxy may echo a credential.
var authSchemes = []string{"basic", "bearer", "digest", "negotiate", "ntlm", "proxy-authorization:", "authorization:"}

// cleanText makes text from the proxy safe to store (logs, state.json,
// status, check): printable ASCII only, at most maxShown bytes, each of
// sent (the credentials in the request) replaced by ***, and the word after
// an authentication scheme too, since a proxy may echo a transformed one.
func cleanText(text string, sent []string) string {
	for _, s := range sent {
		if s != "" {
			text = strings.ReplaceAll(text, s, "***")
		}
	}
	words := strings.Fields(strings.Map(func(r rune) rune {
		if r < ' ' || r > '~' {
			return ' '
		}
		return r
	}, text))
	for i := 1; i < len(words); i++ {
		for _, scheme := range authSchemes {
			if strings.EqualFold(strings.Trim(words[i-1], `"'(`), scheme) {
				words[i] = "***"
			}
		}
	}
	out := strings.Join(words, " ")
	if len(out) > maxShown {
		out = out[:maxShown] + "…"
	}
	return out
}

// cleanError keeps network errors, an early end and the bound's error as
// they are: they hold nothing the proxy wrote. Any other error (net/http's
// parse errors quote the proxy's line) becomes its cleaned text.
func cleanError(err error, sent []string) error {
	var ne net.Error
	switch {
	case err == nil, errors.As(err, &ne), errors.Is(err, ErrAnswerTooLarge),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return err
	}
	return errors.New("malformed answer to CONNECT: " + cleanText(err.Error(), sent))
}
