package page

import (
	"errors"
	"fmt"
)

// ErrCorrupt is the one sentinel for bytes on disk that are not what folio
// wrote. The concrete error is a *CorruptError naming the page.
var ErrCorrupt = errors.New("folio: database file is corrupt")

// CorruptError says which page is bad, what was expected and what was found.
type CorruptError struct {
	Page     ID     // the damaged page (its first, for a run)
	What     string // what was being checked, e.g. "checksum", "key order"
	Expected string // what a page folio wrote holds there
	Found    string // what the file holds
}

// Error says "folio: corrupt page N: what (expected ..., found ...)".
func (e *CorruptError) Error() string {
	s := fmt.Sprintf("folio: corrupt page %d: %s", e.Page, e.What)
	if e.Expected != "" || e.Found != "" {
		s += fmt.Sprintf(" (expected %s, found %s)", e.Expected, e.Found)
	}
	return s
}

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// Corruptf builds a *CorruptError.
func Corruptf(id ID, what, expected, found string) error {
	return &CorruptError{Page: id, What: what, Expected: expected, Found: found}
}

func corruptInt(id ID, what string, expected, found any) error {
	return &CorruptError{Page: id, What: what, Expected: fmt.Sprint(expected), Found: fmt.Sprint(found)}
}
