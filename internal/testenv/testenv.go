// Package testenv keeps unit tests hermetic: a developer's or CI's BAKERY_*
// variables must not change what a test of the config sees.
package testenv

import (
	"os"
	"strings"
	"testing"
)

// Main unsets every BAKERY_* environment variable, then runs the tests.
// Call it from TestMain.
func Main(m *testing.M) {
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "BAKERY_") {
			os.Unsetenv(k)
		}
	}
	os.Exit(m.Run())
}
