package cli

import (
	"os"
	"testing"

	"github.com/bakeryhq/bakery/internal/testenv"
)

func TestMain(m *testing.M) {
	testenv.ClearBakery()
	os.Exit(m.Run())
}
