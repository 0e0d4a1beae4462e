package attest

import (
	"runtime/debug"
	"testing"
)

// TestWhileDecryptingRestoresGOGC: two keys decrypted at once leave GOGC
// as it was, whichever finishes first; a GOGC the user set is never
// lowered.
func TestWhileDecryptingRestoresGOGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	endA := whileDecrypting()
	endB := whileDecrypting()
	if got := debug.SetGCPercent(10); got != 10 {
		t.Errorf("GOGC while two keys are decrypted: %d, want 10", got)
	}
	endA()
	if got := debug.SetGCPercent(10); got != 10 {
		t.Errorf("GOGC while one key is still decrypted: %d, want 10", got)
	}
	endB()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC after both: %d, want 100 again", got)
	}

	debug.SetGCPercent(50)
	end := whileDecrypting()
	if got := debug.SetGCPercent(50); got != 50 {
		t.Errorf("a user's GOGC 50 while a key is decrypted: %d, want 50", got)
	}
	end()
	if got := debug.SetGCPercent(100); got != 50 {
		t.Errorf("a user's GOGC 50 after: %d", got)
	}
}
