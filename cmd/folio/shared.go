package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/foliodb/folio"
)

// Helpers shared by the inspection and access commands.

// printJSON writes v as indented JSON and a newline: --json output is for
// programs, but people read it too.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write JSON: %w", err)
	}
	return nil
}

// humanBytes formats a byte count with a binary unit: "1.5 MiB".
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// quoteBytes shows bytes of unknown content (keys read from a page) in Go
// quoted form: text stays readable, anything else is escaped, and a
// newline or terminal escape in a key cannot garble the listing.
func quoteBytes(b []byte) string { return strconv.Quote(string(b)) }

// quoteKey is quoteBytes for a key or name in an error message, clipped:
// a key over the limit is 32 KiB, and echoing it whole buries the message.
func quoteKey(b []byte) string {
	const show = 64
	if len(b) <= show {
		return quoteBytes(b)
	}
	return fmt.Sprintf("%s... (%d bytes)", quoteBytes(b[:show]), len(b))
}

// shellQuote is path as a POSIX shell reads it back, for a command a
// message tells the user to run: as it is when it holds only characters
// no shell treats specially, else in single quotes (a quote inside them
// written as quote, backslash, quote, quote), so "folio check my db.db"
// is not pasted as two arguments; one holding a control character in
// $'...' (bash, zsh, ksh; POSIX since 2024).
func shellQuote(path string) string {
	safe := path != ""
	for _, r := range path {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+,:@%=", r)) {
			safe = false
			break
		}
	}
	if safe {
		return path
	}
	if strings.IndexFunc(path, isControl) >= 0 {
		// NB: in '...' a newline is itself, and the one error line that
		// gives the command escapes it (escapeControls): $'...' says it
		// in characters the line keeps, and the shell reads it back.
		return "$'" + escapeBytes(path, true) + "'"
	}
	return "'" + strings.ReplaceAll(path, "'", `'\''`) + "'"
}

// notDash refuses "-" as the file a command writes (what, as its usage
// names it: "OUT", "DST", "DB"): dump -o - and load -i - mean standard
// output and input, and "folio backup app.db - | gzip" made a file named
// "-" and wrote nothing to the pipe.
func notDash(cmd, what, path string) error {
	if path != "-" {
		return nil
	}
	return usagef("%s -: %s writes a database file, not standard output; to name a file -, give ./-", what, cmd)
}

// isControl reports whether r is an ASCII control character.
func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// escapeControls is s with its control characters escaped (\n, \t,
// \xHH): a message is one line on stderr, and a path or a name in it
// may hold a newline, or an escape sequence that drives the terminal.
func escapeControls(s string) string {
	if strings.IndexFunc(s, isControl) < 0 {
		return s
	}
	return escapeBytes(s, false)
}

// escapeBytes escapes s's control characters as escapeControls says, and
// with quoted its backslashes and single quotes too, for bash's $'...'.
func escapeBytes(s string, quoted bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && (c == '\\' || c == '\''):
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\t':
			b.WriteString(`\t`)
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// withPath prefixes err with path unless its message names the path
// already (the library's transaction errors do: "folio: PATH: ..."). The
// message is read as errorMessage writes it, without the library's
// "folio: " prefixes, which would otherwise name a file called folio.
func withPath(path string, err error) error {
	if namesPath(errorMessage(err), path) {
		return err
	}
	return &pathError{path: path, err: err}
}

// closeDB closes db at the end of a command, reporting a close error
// through *err unless the command already failed: a deferred Close whose
// error is dropped could hide a failed final write.
func closeDB(db *folio.DB, err *error) {
	if cerr := db.Close(); cerr != nil && *err == nil {
		*err = fmt.Errorf("close %s: %w", db.Path(), cerr)
	}
}
