package tx

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"testing"

	"github.com/foliodb/folio/page"
)

// opsRecord logs one operation of each kind through Tx.logOp, on buckets
// nested as a/b, and seals the record.
func opsRecord() []byte {
	tx := &Tx{ops: make([]byte, opsHeader)}
	root := &tx.root
	a := &Bucket{tx: tx, parent: root, name: "a"}
	b := &Bucket{tx: tx, parent: a, name: "b"}
	tx.logOp(opPut, b, []byte("k1"), []byte("v1"), 0, nil)
	tx.logOp(opPut, a, []byte("k2"), nil, 0, nil)
	tx.logOp(opDelete, b, []byte("k1"), nil, 0, nil)
	tx.logOp(opCreate, root, []byte("c"), nil, 0, nil)
	tx.logOp(opDrop, a, []byte("b"), nil, 0, nil)
	tx.logOp(opSequence, a, nil, nil, 1<<40, nil)
	tx.logOp(opMove, a, []byte("b"), nil, 0, root)
	return sealOps(tx.ops, 9, testPS, tx.opCount)
}

// appendOp encodes a decoded operation again (the fuzz round trip).
func appendOp(dst []byte, op *walOp) []byte {
	path := func(dst []byte, p [][]byte) []byte {
		dst = binary.AppendUvarint(dst, uint64(len(p)))
		for _, n := range p {
			dst = appendBytes(dst, n)
		}
		return dst
	}
	dst = append(dst, op.kind)
	dst = path(dst, op.path)
	if op.kind == opSequence {
		dst = binary.AppendUvarint(dst, op.seq)
	} else {
		dst = appendBytes(dst, op.key)
	}
	switch op.kind {
	case opPut:
		dst = appendBytes(dst, op.value)
	case opMove:
		dst = path(dst, op.dst)
	}
	return dst
}

// decodeAll decodes every operation of a logical record.
func decodeAll(b []byte) ([]walOp, error) {
	_, d, err := decodeOps(b, testPS)
	if err != nil {
		return nil, err
	}
	var ops []walOp
	for {
		var op walOp
		more, err := d.next(&op)
		if err != nil {
			return nil, err
		}
		if !more {
			return ops, nil
		}
		// The decoder reuses its path slices: keep copies.
		op.path = append([][]byte(nil), op.path...)
		op.dst = append([][]byte(nil), op.dst...)
		ops = append(ops, op)
	}
}

func TestOpsRecordRoundTrip(t *testing.T) {
	b := opsRecord()
	if v := recordVersionOf(b); v != recordVersionOps {
		t.Fatalf("version %d, want %d", v, recordVersionOps)
	}
	txid, _, err := decodeOps(b, testPS)
	if err != nil || txid != 9 {
		t.Fatalf("decodeOps: txid %d, %v", txid, err)
	}
	ops, err := decodeAll(b)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		kind       byte
		path       string
		key, value string
	}{
		{opPut, "a/b", "k1", "v1"}, {opPut, "a", "k2", ""}, {opDelete, "a/b", "k1", ""},
		{opCreate, "", "c", ""}, {opDrop, "a", "b", ""}, {opSequence, "a", "", ""}, {opMove, "a", "b", ""},
	}
	if len(ops) != len(want) {
		t.Fatalf("%d operations, want %d", len(ops), len(want))
	}
	for i, w := range want {
		op := ops[i]
		if op.kind != w.kind || string(bytes.Join(op.path, []byte("/"))) != w.path || string(op.key) != w.key || string(op.value) != w.value {
			t.Errorf("op %d: kind %d path %q key %q value %q, want %+v", i, op.kind, bytes.Join(op.path, []byte("/")), op.key, op.value, w)
		}
	}
	if ops[5].seq != 1<<40 || len(ops[6].dst) != 0 {
		t.Errorf("sequence %d, move destination %q", ops[5].seq, ops[6].dst)
	}
	// Every truncation, and a wrong page size, is an error, never a panic.
	for n := 0; n < len(b); n++ {
		if _, err := decodeAll(b[:n]); !errors.Is(err, errRecord) {
			t.Fatalf("record cut to %d bytes: %v, want errRecord", n, err)
		}
	}
	if _, _, err := decodeOps(b, 2*testPS); !errors.Is(err, errRecord) {
		t.Fatalf("wrong page size: %v", err)
	}
	bad := bytes.Clone(b)
	bad[opsHeader] = 99 // no such kind
	if _, err := decodeAll(bad); !errors.Is(err, errRecord) {
		t.Fatalf("unknown kind: %v", err)
	}
}

// FuzzDecodeOps: the logical record decoder returns operations or an
// error wrapping errRecord, never panics, and what it accepts encodes
// back to the same operations.
func FuzzDecodeOps(f *testing.F) {
	f.Add(opsRecord())
	f.Add(sealOps(make([]byte, opsHeader), 1, testPS, 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		ops, err := decodeAll(b)
		if err != nil {
			if !errors.Is(err, errRecord) {
				t.Fatalf("error %v does not wrap errRecord", err)
			}
			return
		}
		again := make([]byte, opsHeader, len(b))
		for i := range ops {
			again = appendOp(again, &ops[i])
		}
		txid := binary.LittleEndian.Uint64(b[8:])
		again = sealOps(again, page.TxID(txid), testPS, len(ops))
		// Not byte for byte: a uvarint may come overlong in b.
		ops2, err := decodeAll(again)
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if !reflect.DeepEqual(ops, ops2) {
			t.Fatalf("operations change through a round trip:\n%+v\n%+v", ops, ops2)
		}
	})
}

// TestOpsRecordLargeValues: a put of opsRefMin bytes or more is not
// copied into the operations: the record refers to the value and is cut
// there (opsParts), and joined it is the record with the value copied,
// as replay decodes it. Values just under the bound, empty ones and two
// large ones in a row are copied or referred to as they should be.
func TestOpsRecordLargeValues(t *testing.T) {
	tx := &Tx{ops: make([]byte, opsHeader)}
	root := &tx.root
	a := &Bucket{tx: tx, parent: root, name: "a"}
	big1 := bytes.Repeat([]byte{1}, opsRefMin)
	big2 := bytes.Repeat([]byte{2}, 3*opsRefMin+5)
	under := bytes.Repeat([]byte{3}, opsRefMin-1)
	want := []walOp{
		{kind: opPut, key: []byte("k0"), value: []byte{}},
		{kind: opPut, key: []byte("k1"), value: big1},
		{kind: opPut, key: []byte("k2"), value: big2},
		{kind: opPut, key: []byte("k3"), value: under},
		{kind: opPut, key: []byte("k4"), value: big1},
	}
	for i := range want {
		tx.logOp(opPut, a, want[i].key, want[i].value, 0, nil)
		want[i].path, want[i].dst = [][]byte{[]byte("a")}, [][]byte{}
	}
	tx.meta.TxID, tx.r.pageSize = 9, testPS
	parts := tx.opsParts(nil)
	if len(parts) != 7 || tx.opsRefs == nil || len(tx.opsRefs.values) != 3 {
		t.Fatalf("%d parts, want 7, with 3 values referred to", len(parts))
	}
	if refs := len(big1)*2 + len(big2); tx.opsRefs.size != refs || len(tx.ops) > len(under)+200 {
		t.Fatalf("%d bytes copied, %d referred to: want the large values (%d bytes) referred to", len(tx.ops), tx.opsRefs.size, refs)
	}
	rec := bytes.Join(parts, nil)
	if len(rec) != tx.opsLen() {
		t.Fatalf("record of %d bytes, opsLen says %d", len(rec), tx.opsLen())
	}
	got, err := decodeAll(rec)
	if err != nil {
		t.Fatal(err)
	}
	for i := range got {
		got[i].dst = [][]byte{}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("joined record decodes to %d operations, not those logged", len(got))
	}
}
