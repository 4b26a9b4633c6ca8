package check

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// Print shows a fix only under a result that did not pass; its JSON is one
// object per result, with durationMs.
func TestPrint(t *testing.T) {
	results := []Result{
		{Name: "dns", Status: OK, Message: "resolves", Fix: "never shown", Duration: 3 * time.Millisecond},
		{Name: "tcp", Status: Fail, Message: "nothing listening", Fix: "start it"},
	}
	var text bytes.Buffer
	Print(&text, results, false)
	want := "ok    dns       resolves\n" +
		"fail  tcp       nothing listening\n" +
		"                fix: start it\n"
	if text.String() != want {
		t.Fatalf("Print:\n%s\nwant:\n%s", text.String(), want)
	}
	var js bytes.Buffer
	Print(&js, results, true)
	var got []map[string]any
	if err := json.Unmarshal(js.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0]["name"] != "dns" || got[0]["durationMs"] != float64(3) || got[1]["fix"] != "start it" {
		t.Fatalf("Print JSON: %s", js.String())
	}
}
