package dumpfmt

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
)

// Digest summarises a bucket tree as a dump would carry it: a SHA-256 of
// every block (path and sequence) and pair in order, with counts. Two
// walks of equal data in the same order (own pairs first, then nested
// buckets in name order) give equal digests, whatever the source (folio,
// bbolt, a dump), so compact and migrate compare source and copy with it.
// Digest is a Visitor.
type Digest struct {
	h       hash.Hash
	scratch []byte

	Buckets, Keys int64
	// Counts holds the number of keys of each bucket, by EncodePath.
	Counts map[string]int64
	cur    string
}

// NewDigest returns an empty digest.
func NewDigest() *Digest {
	return &Digest{h: sha256.New(), Counts: make(map[string]int64)}
}

// BeginBucket adds a block. A missing sequence counts as 0.
func (d *Digest) BeginBucket(b Bucket) error {
	p := append(d.scratch[:0], 'B')
	p = binary.AppendUvarint(p, b.Sequence)
	p = binary.AppendUvarint(p, uint64(len(b.Path)))
	for _, name := range b.Path {
		p = binary.AppendUvarint(p, uint64(len(name)))
		p = append(p, name...)
	}
	d.h.Write(p)
	d.scratch = p
	d.cur = EncodePath(b.Path)
	d.Counts[d.cur] += 0
	d.Buckets++
	return nil
}

// Put adds a pair.
func (d *Digest) Put(k, v []byte) error {
	p := append(d.scratch[:0], 'P')
	p = binary.AppendUvarint(p, uint64(len(k)))
	p = binary.AppendUvarint(p, uint64(len(v)))
	d.h.Write(p)
	d.h.Write(k)
	d.h.Write(v)
	d.scratch = p
	d.Counts[d.cur]++
	d.Keys++
	return nil
}

// Sum is the digest in hex.
func (d *Digest) Sum() string { return hex.EncodeToString(d.h.Sum(nil)) }
