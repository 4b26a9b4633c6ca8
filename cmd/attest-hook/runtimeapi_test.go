package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/provisiond/provisiond/internal/attest"
	"github.com/provisiond/provisiond/internal/attest/attesttest"
)

// runtimeAPI serves the Lambda runtime API to one function process: it
// hands out the events in turn, then holds the next poll until the test
// ends, and passes on each answer.
type runtimeAPI struct {
	events  chan []byte
	answers chan string
	done    chan struct{}
}

func (api *runtimeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	const prefix = "/2018-06-01/runtime/"
	path, ok := strings.CutPrefix(r.URL.Path, prefix)
	switch {
	case !ok:
		http.NotFound(w, r)
	case r.Method == http.MethodGet && path == "invocation/next":
		select {
		case ev := <-api.events:
			w.Header().Set("Lambda-Runtime-Aws-Request-Id", "request-1")
			w.Header().Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(time.Now().Add(5*time.Second).UnixMilli(), 10))
			w.Header().Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:attest-hook")
			w.Write(ev) //nolint:errcheck // test server
		case <-api.done:
			http.Error(w, "shutting down", http.StatusGone)
		}
	case r.Method == http.MethodPost:
		body, _ := io.ReadAll(r.Body)
		api.answers <- path + " " + string(body)
		w.WriteHeader(http.StatusAccepted)
	default:
		http.NotFound(w, r)
	}
}

// The binary, run as Lambda runs a provided.al2023 function's bootstrap
// (AWS_LAMBDA_RUNTIME_API set, settings in the environment), answers an
// event through the runtime API.
func TestBinaryServesTheLambdaRuntimeAPI(t *testing.T) {
	sc := attesttest.SignatureScenario(t)
	event, err := json.Marshal(sc.Good)
	if err != nil {
		t.Fatal(err)
	}
	api := &runtimeAPI{events: make(chan []byte, 1), answers: make(chan string, 4), done: make(chan struct{})}
	api.events <- event
	srv := httptest.NewServer(api)
	defer srv.Close()
	defer close(api.done)

	task := t.TempDir()
	writeFile(t, filepath.Join(task, "oem-roots.pem"), sc.OEM.PEM())
	cmd := exec.Command(attesttest.HookBinary(t))
	cmd.Dir = t.TempDir() // the task root is found from LAMBDA_TASK_ROOT
	cmd.Env = append(os.Environ(), "AWS_LAMBDA_RUNTIME_API="+strings.TrimPrefix(srv.URL, "http://"),
		"LAMBDA_TASK_ROOT="+task, "ATTEST_HOOK_ROOTS=oem-roots.pem")
	stderr := &attesttest.Output{}
	cmd.Stderr = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Kill() //nolint:errcheck // it may have exited
		<-exited
	}()
	select {
	case answer := <-api.answers:
		path, body, _ := strings.Cut(answer, " ")
		var rsp attest.Response
		if path != "invocation/request-1/response" || json.Unmarshal([]byte(body), &rsp) != nil ||
			!rsp.AllowProvisioning || rsp.ParameterOverrides["ThingName"] != sc.Unit.Serial {
			t.Fatalf("the function answered %s; stderr:\n%s", answer, stderr)
		}
	case err := <-exited:
		t.Fatalf("the function exited: %v; stderr:\n%s", err, stderr)
	case <-time.After(15 * time.Second):
		t.Fatalf("no answer; stderr:\n%s", stderr)
	}
}
