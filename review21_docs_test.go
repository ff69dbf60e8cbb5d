package folio

import (
	"errors"
	"strings"
	"testing"
)

// TestReview21DocsTimeoutTriedOnceMessage: Options.Timeout < 0 tries the
// lock once (README, "Options"), and its ErrTimeout said "waited -1ns",
// a wait that never happened and a duration no one set. The lock is
// held here by another Open in this process, which the message must not
// put down to another process alone.
func TestReview21DocsTimeoutTriedOnceMessage(t *testing.T) {
	path := tempPath(t)
	db, err := Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, err = Open(path, 0o600, &Options{Timeout: -1})
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("second Open with Timeout -1: %v, want ErrTimeout", err)
	}
	msg := err.Error()
	if strings.Contains(msg, "waited -") || !strings.Contains(msg, "tried once") {
		t.Errorf("Open with Timeout -1: %q; want it to say the lock was tried once, not a negative wait", msg)
	}
	if !strings.Contains(msg, path) || !strings.Contains(msg, "another Open") {
		t.Errorf("Open with Timeout -1: %q; want the path, and that another Open (in this process too) may hold it", msg)
	}
}
