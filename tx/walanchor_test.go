package tx

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/foliodb/folio/page"
)

func TestAnchorRoundTrip(t *testing.T) {
	m := page.Meta{PageSize: testPS, TxID: 77, RootSum: 0xdeadbeef}
	b := encodeAnchor(&m)
	a, err := decodeAnchor(b, testPS)
	if err != nil || !a.ok || a.txid != 77 || a.sum != 0xdeadbeef {
		t.Fatalf("decodeAnchor = %+v, %v", a, err)
	}
	if kind, txid, err := CheckLogRecord(b); kind != "anchor" || txid != 77 || err != nil {
		t.Fatalf("CheckLogRecord = %q, %d, %v", kind, txid, err)
	}
	if _, err := decodeAnchor(b, 2*testPS); !errors.Is(err, errRecord) {
		t.Errorf("another page size: %v, want errRecord", err)
	}
	for _, n := range []int{0, 8, anchorBytes - 1, anchorBytes + 1} {
		c := append(bytes.Clone(b), 0)[:n]
		if _, err := decodeAnchor(c, testPS); !errors.Is(err, errRecord) {
			t.Errorf("%d bytes: %v, want errRecord", n, err)
		}
	}
	if err := a.follows(logAnchor{}, m, 5); err != nil {
		t.Errorf("follows its own meta: %v", err)
	}
	for _, other := range []page.Meta{{TxID: 77, RootSum: 1}, {TxID: 76, RootSum: 0xdeadbeef}} {
		if err := a.follows(logAnchor{}, other, 5); !errors.Is(err, ErrLogMismatch) {
			t.Errorf("follows %+v: %v, want ErrLogMismatch", other, err)
		}
		// The record before names the file's state: a recovery that
		// wrote an image record's meta and stopped (imageState).
		if err := a.follows(imageState(other, 4), other, 5); err != nil {
			t.Errorf("follows %+v after an image record naming it: %v", other, err)
		}
		if err := a.follows(imageState(page.Meta{TxID: other.TxID, RootSum: other.RootSum + 1}, 4), other, 5); !errors.Is(err, ErrLogMismatch) {
			t.Errorf("follows %+v after an image record of another state: %v, want ErrLogMismatch", other, err)
		}
	}
	if err := (logAnchor{}).follows(logAnchor{}, page.Meta{TxID: 3}, 5); err != nil {
		t.Errorf("no anchor read (a log from before anchors): %v, want nil", err)
	}
}

// FuzzCheckLogRecord runs every record decoder (page images, operations,
// anchors) on arbitrary payloads, as folio check and recovery meet them:
// an error or a result, never a panic; an anchor that decodes encodes
// back to its bytes.
func FuzzCheckLogRecord(f *testing.F) {
	f.Add(encodeAnchor(&page.Meta{PageSize: testPS, TxID: 9, RootSum: 42}))
	f.Add(testRecord())
	f.Add(sealOps(make([]byte, opsHeader), 1, testPS, 0))
	f.Add([]byte("fTXR\x06\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		kind, txid, err := CheckLogRecord(b)
		if err != nil {
			if !errors.Is(err, ErrLogCorrupt) || !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrLogCorrupt and ErrCorrupt", err)
			}
			return
		}
		if kind == "anchor" {
			ps := int(binary.LittleEndian.Uint32(b[16:]))
			a, err := decodeAnchor(b, ps)
			if err != nil || uint64(a.txid) != txid {
				t.Fatalf("CheckLogRecord said anchor %d, decodeAnchor %+v, %v", txid, a, err)
			}
			again := encodeAnchor(&page.Meta{PageSize: uint32(ps), TxID: a.txid, RootSum: a.sum})
			if !bytes.Equal(again, b) {
				t.Fatalf("anchor %x encodes back to %x", b, again)
			}
		}
	})
}
