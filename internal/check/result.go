package check

import (
	"encoding/json"
	"time"

	"github.com/provisiond/provisiond/internal/connect"
)

// Status is a check's verdict.
type Status string

// Verdicts. Skip is a check that could not run because an earlier one failed.
const (
	OK   Status = "ok"
	Warn Status = "warn"
	Fail Status = "fail"
	Skip Status = "skip"
)

// Result is one check's outcome.
type Result struct {
	Name     string        `json:"name"`
	Status   Status        `json:"status"`
	Message  string        `json:"message"`
	Fix      string        `json:"fix"`
	Duration time.Duration `json:"-"`
}

// MarshalJSON adds durationMs, for fleet tooling.
func (r Result) MarshalJSON() ([]byte, error) {
	type plain Result
	return json.Marshal(struct {
		plain
		DurationMs int64 `json:"durationMs"`
	}{plain(r), r.Duration.Milliseconds()})
}

// Failed reports whether any result failed, or warned when warningsFail.
func Failed(results []Result, warningsFail bool) bool {
	for _, r := range results {
		if r.Status == Fail || (warningsFail && r.Status == Warn) {
			return true
		}
	}
	return false
}

// ConfigFailed is the config check's result for a config that does not load.
func ConfigFailed(err error) Result {
	return Result{Name: connect.StepConfig, Status: Fail, Message: err.Error(),
		Fix: "correct the field named above in the config file, then run provisiond check again"}
}
