package main

import (
	"encoding/binary"
	"math/rand/v2"
)

// The data set: n keys of 16 random-looking bytes, and 100-byte values of
// random (incompressible) bytes. Key i is computed, not stored, so every
// process can name any key without holding the whole set: its first eight
// bytes are i*stride plus a random offset below stride (uniform over the
// key space, and ascending in i, so W1 needs no sort), its last eight
// bytes random. Keys written by W5..W7 are fresh random keys that do not
// occur in the set (a collision has odds of about n/2^64).
const (
	keySize = 16
	seed    = 0x5eed_f011_0b0b_cafe
)

type keyset struct {
	n      int
	stride uint64
}

func newKeyset(n int) keyset {
	return keyset{n: n, stride: ^uint64(0) / uint64(max(n, 1))}
}

// mix is splitmix64's finaliser: a bijection that scatters its input.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// key writes key i of the set into dst[:16].
func (ks keyset) key(dst []byte, i int) {
	hi := uint64(i)*ks.stride + mix(seed^uint64(i))%ks.stride
	binary.BigEndian.PutUint64(dst, hi)
	binary.BigEndian.PutUint64(dst[8:], mix(seed+uint64(i)*0x632be59bd9b4e019))
}

// freshKey writes the j-th key of stream s that is not in the set.
func freshKey(dst []byte, s, j int) {
	x := uint64(s)<<40 ^ uint64(j)
	binary.BigEndian.PutUint64(dst, mix(x^0xf2e5_1a7d_0000_0000))
	binary.BigEndian.PutUint64(dst[8:], mix(x+0x1f83d9abfb41bd6b))
}

// slab is count reusable key and value buffers for one transaction's
// puts. bbolt keeps references to the slices until its commit, so each
// put within a transaction gets its own; after the commit they are reused.
type slab struct {
	keys, vals [][]byte
	rng        *rand.ChaCha8
}

func newSlab(count, valSize int, stream uint64) *slab {
	s := &slab{keys: make([][]byte, count), vals: make([][]byte, count)}
	kb := make([]byte, count*keySize)
	vb := make([]byte, count*valSize)
	for i := range count {
		s.keys[i] = kb[i*keySize : (i+1)*keySize : (i+1)*keySize]
		s.vals[i] = vb[i*valSize : (i+1)*valSize : (i+1)*valSize]
	}
	var sd [32]byte
	binary.LittleEndian.PutUint64(sd[:], seed)
	binary.LittleEndian.PutUint64(sd[8:], stream)
	s.rng = rand.NewChaCha8(sd)
	return s
}

// fillValues gives the first count values fresh random bytes.
func (s *slab) fillValues(count int) {
	for _, v := range s.vals[:count] {
		_, _ = s.rng.Read(v)
	}
}
