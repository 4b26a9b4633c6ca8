package crashstate

import (
	"os"
	"testing"

	"github.com/provisiond/provisiond/internal/testtool/fleetsimproc"
)

func TestMain(m *testing.M) { os.Exit(fleetsimproc.RunTests(m)) }
