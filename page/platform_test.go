package page

import (
	"encoding/binary"
	"errors"
	"testing"
)

// Header fields are uint32 and folio's int may have 32 bits (386, arm):
// these feed each decoder a field whose int conversion or product would
// wrap there. Each must be refused as corruption; on 32-bit platforms the
// run one panicked slicing with a negative length, and the meta one
// accepted a page whose reserved bytes it then skipped. On 64-bit
// platforms both pass either way: run them under GOARCH=386 or arm.

// TestCheckRunOverflowNoWrap: (overflow+1)*pageSize is 2^31+4096 and 2^32
// for these, negative and zero in a 32-bit int.
func TestCheckRunOverflowNoWrap(t *testing.T) {
	const ps = 4096
	for _, ov := range []uint32{1 << 19, MaxRunPages - 1} {
		p := make([]byte, ps)
		PutHeader(p, 7, 1, FlagLeaf, 1, ov)
		n, err := CheckRun(p, 7, ps, FlagLeaf, PageChecksum(p), false)
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("overflow %d in a one-page file: got %d bytes, %v; want ErrCorrupt", ov, n, err)
		}
	}
}

// TestDecodeMetaRunCountNoWrap: a commit-run count of 2^31 or more.
func TestDecodeMetaRunCountNoWrap(t *testing.T) {
	const ps = 4096
	for _, count := range []uint32{1 << 31, 1<<32 - 1} {
		p := make([]byte, ps)
		EncodeMeta(p, 0, &Meta{PageSize: ps, High: 10, TxID: 3})
		binary.LittleEndian.PutUint32(p[metaSize:], count)
		binary.LittleEndian.PutUint32(p[offChecksum:], Checksum(p[:ps]))
		if _, err := DecodeMeta(p, 0); !errors.Is(err, ErrCorrupt) {
			t.Errorf("meta with %d commit runs: got %v, want ErrCorrupt", count, err)
		}
	}
}
