package page

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// CheckRun validates the header of a run read for page id: the id it
// claims, its kind, that its overflow fits in avail bytes, and that its
// checksum field equals what the parent expects (a lost or misdirected
// write fails here at the cost of one compare). When verify is set the
// CRC of the whole run is recomputed as well. It returns the run's length.
func CheckRun(p []byte, id ID, pageSize int, want Flags, expectSum uint32, verify bool) (int, error) {
	if len(p) < HeaderSize || len(p) < pageSize {
		return 0, corruptInt(id, "page beyond end of file", "a whole page", fmt.Sprintf("%d bytes", len(p)))
	}
	if got := PageID(p); got != id {
		return 0, corruptInt(id, "page id in header", id, got)
	}
	if f := PageFlags(p); f&want == 0 || f&(f-1) != 0 {
		return 0, Corruptf(id, "page kind", kinds(want), fmt.Sprintf("%s (%#x)", f, uint16(f)))
	}
	if z := binary.LittleEndian.Uint32(p[offOverflow+4:]); z != 0 {
		return 0, corruptInt(id, "header reserved field", 0, z)
	}
	ov := PageOverflow(p)
	// NB: in uint64: (ov+1)*pageSize wraps a 32-bit int (2^20 pages of
	// 4 KiB); a division would cost every page read a div.
	if ov >= MaxRunPages || (uint64(ov)+1)*uint64(pageSize) > uint64(len(p)) {
		// NB: the run's length against the lower bound: "< N pages"
		// with N the buffer's pages read as a contradiction when the
		// count passed MaxRunPages, not the buffer.
		return 0, corruptInt(id, "overflow", fmt.Sprintf("at most %d pages", min(len(p)/pageSize, MaxRunPages)), uint64(ov)+1)
	}
	n := (int(ov) + 1) * pageSize
	if got := PageChecksum(p); got != expectSum {
		return 0, Corruptf(id, "checksum expected by parent (lost or misdirected write?)", fmt.Sprintf("%#08x", expectSum), fmt.Sprintf("%#08x", got))
	}
	if verify {
		if err := VerifyChecksum(p[:n], id, expectSum); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// kinds names the page kinds in want: "branch or leaf" for a tree's
// child (Flags.String names one kind, and "unknown" for any other value).
func kinds(want Flags) string {
	var names []string
	for f := FlagMeta; f <= FlagFreelist; f <<= 1 {
		if want&f != 0 {
			names = append(names, f.String())
		}
	}
	return strings.Join(names, " or ")
}

// VerifyChecksum checks a whole run's bytes against the checksum its
// parent expects.
func VerifyChecksum(run []byte, id ID, want uint32) error {
	if got := Checksum(run); got != want {
		return Corruptf(id, "checksum", fmt.Sprintf("%#08x", want), fmt.Sprintf("%#08x", got))
	}
	return nil
}
