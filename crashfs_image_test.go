package folio

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestCrashStorageImage checks the double's model of a power cut on a
// small script of calls: what a sync makes durable, what growth and
// truncation leave, and that every image lies between "only synced" and
// "everything written".
func TestCrashStorageImage(t *testing.T) {
	const ps = 1024
	base := bytes.Repeat([]byte{1}, 2*ps)
	st := newCrashStorage(t, base)
	page := func(b byte) []byte { return bytes.Repeat([]byte{b}, ps) }
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.Grow(6*ps, false))                         // op 0
	must(st.WriteAt([][]byte{page(2), page(3)}, 2*ps)) // op 1
	must(st.SyncRange(2*ps, ps))                       // op 2: page 2 only
	must(st.WriteAt([][]byte{page(4)}, 0))             // op 3
	must(st.Truncate(5 * ps))                          // op 4
	must(st.WriteAt([][]byte{page(5)}, 4*ps))          // op 5
	must(st.SyncRange(4*ps, ps))                       // op 6: page 4, and the length
	must(st.Grow(8*ps, true))                          // op 7
	rng := rand.New(rand.NewPCG(1, 2))
	want := func(k int, mode imageMode, size int, pages ...byte) {
		t.Helper()
		img := st.image(k, mode, ps, rng)
		var w []byte
		for _, b := range pages {
			w = append(w, page(b)...)
		}
		w = append(w, make([]byte, size*ps-len(w))...)
		if !bytes.Equal(img, w) {
			t.Errorf("after %d calls, %s: got %d bytes %v..., want %d pages %v", k, mode, len(img), firstBytes(img, ps), size, pages)
		}
	}
	// image(k) is the file after the first k calls.
	want(0, imageSynced, 2, 1, 1)
	want(2, imageSynced, 2, 1, 1)    // written, growth unsynced: nothing new is durable
	want(3, imageSynced, 3, 1, 1, 2) // the sync made page 2, and the length to its end, durable
	want(3, imageAll, 6, 1, 1, 2, 3)
	want(5, imageAll, 5, 4, 1, 2, 3) // truncated to 5 pages
	want(7, imageSynced, 5, 1, 1, 2, 0, 5)
	want(7, imageAll, 5, 4, 1, 2, 3, 5)
	want(8, imageSynced, 8, 1, 1, 2, 0, 5)
	for k := 0; k <= st.opCount(); k++ {
		lo, hi := st.image(k, imageSynced, ps, rng), st.image(k, imageAll, ps, rng)
		for i := 0; i < 20; i++ {
			img := st.image(k, imageSubset+imageMode(i%2), ps, rng)
			for off := 0; off < len(img); off += minSector {
				s := img[off : off+minSector]
				if off < 2*ps && mixOf(s, sector(lo, off), sector(hi, off)) {
					continue // meta pages may tear inside a sector
				}
				if !bytes.Equal(s, sector(lo, off)) && !bytes.Equal(s, sector(hi, off)) && !allZeroBytes(s) {
					t.Errorf("after %d calls: sector at %d is neither synced, written nor zero", k, off)
				}
			}
		}
	}
}

func sector(b []byte, off int) []byte {
	if off+minSector > len(b) {
		return nil
	}
	return b[off : off+minSector]
}

func allZeroBytes(b []byte) bool { return len(bytes.Trim(b, "\x00")) == 0 }

func firstBytes(img []byte, ps int) []byte {
	var out []byte
	for off := 0; off < len(img); off += ps {
		out = append(out, img[off])
	}
	return out
}

// mixOf reports whether every byte of s is the byte of a or of b there.
func mixOf(s, a, b []byte) bool {
	if len(a) != len(s) || len(b) != len(s) {
		return false
	}
	for i := range s {
		if s[i] != a[i] && s[i] != b[i] {
			return false
		}
	}
	return true
}
