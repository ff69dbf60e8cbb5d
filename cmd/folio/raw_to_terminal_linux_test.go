package main

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/foliodb/folio"
)

// TestCLIGetBinaryToTerminal: get in raw format refuses to write a value
// that is not text (bytes that are not UTF-8, or control characters but
// tab and newline) to a terminal, as dump refuses binary output there:
// an escape sequence in the value drove the terminal, and a PNG's bytes
// left it unusable. Text still prints; hex and base64 print anything;
// to a file or a pipe the bytes go as they are
// (TestCLIGetRawRoundTrips).
func TestCLIGetBinaryToTerminal(t *testing.T) {
	path := makeDB(t, func(tx *folio.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		for k, v := range map[string]string{
			"esc": "red \x1b[31mtext", "png": "\x89PNG\r\n\x1a\n\x00\x00", "text": "héllo\tworld\nline two", "crlf": "line\r\n",
		} {
			if err := b.Put([]byte(k), []byte(v)); err != nil {
				return err
			}
		}
		return nil
	})
	for _, tc := range []struct {
		args []string
		code int
		want string // on the terminal, or in the error
	}{
		{[]string{"get", path, "b", "esc"}, exitUsage, `not writing the value of key "esc" in bucket "b" (13 bytes, not text) to a terminal: use --format hex or base64, or redirect it to a file`},
		{[]string{"get", path, "b", "png"}, exitUsage, `(10 bytes, not text)`},
		{[]string{"get", path, "b", "text"}, exitOK, "héllo\tworld\nline two\n"},
		{[]string{"get", path, "b", "crlf"}, exitOK, "line\r\n\n"},
		{[]string{"get", "--format", "hex", path, "b", "657363"}, exitOK, "726564201b5b33316d74657874\n"},
	} {
		m, s := ptyPair(t)
		var got bytes.Buffer
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _ = io.Copy(&got, m) // until the terminal side closes (EIO)
		}()
		var errb bytes.Buffer
		code := newApp(strings.NewReader(""), s, &errb).run(tc.args)
		s.Close()
		<-done
		m.Close()
		out := strings.ReplaceAll(got.String(), "\r\n", "\n") // ONLCR
		if tc.code == exitOK {
			if code != exitOK || out != tc.want {
				t.Errorf("%v to a terminal: exit %d, %q; want %q: %s", tc.args, code, out, tc.want, errb.String())
			}
			continue
		}
		if code != tc.code || out != "" || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("%v to a terminal: exit %d, wrote %q, %q; want %d, nothing written and %q", tc.args, code, out, errb.String(), tc.code, tc.want)
		}
	}
}

// TestCLIKeysBinaryToTerminal: keys in raw format stops at a key that
// is not text on a terminal, as get does with such a value, naming it
// quoted and saying what to use; the keys before it are listed. To a
// pipe it lists every key as it is.
func TestCLIKeysBinaryToTerminal(t *testing.T) {
	path := makeDB(t, func(tx *folio.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		for _, k := range []string{"a", "b\x1b[2Jc", "d"} {
			if err := b.Put([]byte(k), []byte("v")); err != nil {
				return err
			}
		}
		return nil
	})
	m, s := ptyPair(t)
	defer m.Close()
	var got bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(&got, m) // until the terminal side closes (EIO)
	}()
	var errb bytes.Buffer
	code := newApp(strings.NewReader(""), s, &errb).run([]string{"keys", path, "b"})
	s.Close()
	<-done
	want := `bucket "b": key "b\x1b[2Jc" is not text, which raw format does not write to a terminal: use --format hex or base64, or redirect the output`
	if out := strings.ReplaceAll(got.String(), "\r\n", "\n"); code != exitFail || out != "a\n" || !strings.Contains(errb.String(), want) {
		t.Errorf("keys to a terminal: exit %d, %q, %q; want %d, %q and %q", code, out, errb.String(), exitFail, "a\n", want)
	}
	if code, out, stderr := runCLI(t, "keys", path, "b"); code != exitOK || out != "a\nb\x1b[2Jc\nd\n" {
		t.Errorf("keys to a pipe: exit %d, %q: %s", code, out, stderr)
	}
}
