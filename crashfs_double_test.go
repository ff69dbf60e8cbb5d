package folio

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestCrashStorageRegrowth checks the double's images where the file is
// cut and grows back. A real file reads zeros in the range between a cut
// and the regrown end (the kernel drops the cut pages, and the regrown
// range is a hole or fallocated, unwritten blocks) unless it was written
// again; until the cut is durable (a sync, or a synced Grow, makes the
// length durable) a power cut may leave the old file instead: the old
// length with its old durable bytes. Never the new length with the old
// bytes in the regrown range.
//
// Every script also checks the double against the real file it wraps:
// after each call, the image with every write (a process death) must be
// the file as it stands, and so must what a mapping of it reads.
func TestCrashStorageRegrowth(t *testing.T) {
	const ps = 1024
	// pages builds a file of whole pages, page i all b[i] (0: zeros).
	pages := func(b ...byte) []byte {
		var out []byte
		for _, c := range b {
			out = append(out, bytes.Repeat([]byte{c}, ps)...)
		}
		return out
	}
	write := func(b byte, off int64) call {
		return func(s *crashStorage) error { return s.WriteAt([][]byte{pages(b)}, off) }
	}
	syncRange := func(off, n int64) call { return func(s *crashStorage) error { return s.SyncRange(off, n) } }
	grow := func(size int64, sync bool) call { return func(s *crashStorage) error { return s.Grow(size, sync) } }
	truncate := func(size int64) call { return func(s *crashStorage) error { return s.Truncate(size) } }
	eight := pages(1, 1, 1, 1, 1, 1, 1, 1)

	// want is what image(k, mode) may be: one of the files listed.
	type want struct {
		k    int
		mode imageMode
		any  [][]byte
	}
	tests := []struct {
		name string
		base []byte
		run  []call // call i+1 leaves the file image(i+1, ...) is of
		want []want
	}{{
		// The cut is made durable by a sync after the regrowth.
		name: "cut, grow, sync",
		base: eight,
		run: []call{
			write(2, 6*ps),      // 1
			syncRange(6*ps, ps), // 2
			truncate(4 * ps),    // 3
			grow(8*ps, false),   // 4
			syncRange(0, ps),    // 5: the length, and the cut
		},
		want: []want{
			{2, imageSynced, [][]byte{pages(1, 1, 1, 1, 1, 1, 2, 1)}},
			{3, imageSynced, [][]byte{pages(1, 1, 1, 1, 1, 1, 2, 1)}}, // the cut is not durable
			{3, imageSubset, [][]byte{pages(1, 1, 1, 1, 1, 1, 2, 1), pages(1, 1, 1, 1)}},
			{4, imageSynced, [][]byte{pages(1, 1, 1, 1, 1, 1, 2, 1)}},
			{4, imageAll, [][]byte{pages(1, 1, 1, 1, 0, 0, 0, 0)}},
			{4, imageSubset, [][]byte{pages(1, 1, 1, 1, 1, 1, 2, 1), pages(1, 1, 1, 1, 0, 0, 0, 0)}},
			{5, imageSynced, [][]byte{pages(1, 1, 1, 1, 0, 0, 0, 0)}},
			{5, imageSubset, [][]byte{pages(1, 1, 1, 1, 0, 0, 0, 0)}},
		},
	}, {
		// A synced Grow makes the length durable, and so the cut.
		name: "cut, synced grow",
		base: eight,
		run: []call{
			write(2, 6*ps),      // 1
			syncRange(6*ps, ps), // 2
			truncate(4 * ps),    // 3
			grow(8*ps, true),    // 4
		},
		want: []want{
			{4, imageSynced, [][]byte{pages(1, 1, 1, 1, 0, 0, 0, 0)}},
			{4, imageSubset, [][]byte{pages(1, 1, 1, 1, 0, 0, 0, 0)}},
			{4, imageAll, [][]byte{pages(1, 1, 1, 1, 0, 0, 0, 0)}},
		},
	}, {
		// A write past the end grows the file back over the cut; the
		// pages it skips read zero.
		name: "cut, write past the end, sync",
		base: eight,
		run: []call{
			truncate(4 * ps),    // 1
			write(3, 6*ps),      // 2
			syncRange(6*ps, ps), // 3
		},
		want: []want{
			{2, imageSynced, [][]byte{eight}},
			{2, imageAll, [][]byte{pages(1, 1, 1, 1, 0, 0, 3)}},
			{2, imageSubset, [][]byte{
				eight, pages(1, 1, 1, 1, 1, 1, 3, 1), // the old file, the write or not
				pages(1, 1, 1, 1, 0, 0, 0), pages(1, 1, 1, 1, 0, 0, 3), // the new one
			}},
			{3, imageSynced, [][]byte{pages(1, 1, 1, 1, 0, 0, 3)}},
			{3, imageSubset, [][]byte{pages(1, 1, 1, 1, 0, 0, 3)}},
		},
	}, {
		// Two cuts, each grown back, none durable: the new file reads
		// zero from the lower cut, but for what was written since.
		name: "cut, grow, write, cut higher, grow",
		base: eight,
		run: []call{
			truncate(4 * ps),    // 1
			grow(8*ps, false),   // 2
			write(5, 5*ps),      // 3
			truncate(6 * ps),    // 4
			grow(10*ps, false),  // 5
			syncRange(5*ps, ps), // 6
		},
		want: []want{
			{5, imageSynced, [][]byte{eight}},
			{5, imageAll, [][]byte{pages(1, 1, 1, 1, 0, 5, 0, 0, 0, 0)}},
			{5, imageSubset, [][]byte{
				eight, pages(1, 1, 1, 1, 1, 5, 1, 1),
				pages(1, 1, 1, 1, 0, 0, 0, 0, 0, 0), pages(1, 1, 1, 1, 0, 5, 0, 0, 0, 0),
			}},
			{6, imageSynced, [][]byte{pages(1, 1, 1, 1, 0, 5, 0, 0, 0, 0)}},
			{6, imageSubset, [][]byte{pages(1, 1, 1, 1, 0, 5, 0, 0, 0, 0)}},
		},
	}, {
		// A cut inside an unsynced page keeps the part of it below the
		// cut, in the page cache and so in the image.
		name: "cut inside a written page",
		base: pages(1, 1, 1, 1),
		run: []call{
			write(7, 2*ps),           // 1
			truncate(2*ps + ps/2),    // 2
			grow(4*ps, false),        // 3
			syncRange(2*ps, ps/2),    // 4
			truncate(2 * ps),         // 5
			truncate(3 * ps),         // 6: extends, sparsely
			syncRange(2*ps, ps),      // 7
			write(8, 3*ps+minSector), // 8: not page-aligned, past the end
		},
		want: []want{
			{3, imageAll, [][]byte{append(pages(1, 1), append(bytes.Repeat([]byte{7}, ps/2), pages(0, 0)[ps/2:]...)...)}},
			{4, imageSynced, [][]byte{append(pages(1, 1), append(bytes.Repeat([]byte{7}, ps/2), pages(0, 0)[ps/2:]...)...)}},
			{7, imageSynced, [][]byte{pages(1, 1, 0)}},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newCrashStorage(t, tt.base)
			// files[k] is the file as it stands after k calls.
			files := [][]byte{st.contents(t)}
			for i, c := range tt.run {
				if err := c(st); err != nil {
					t.Fatalf("call %d: %v", i+1, err)
				}
				files = append(files, st.contents(t))
			}
			rng := rand.New(rand.NewPCG(3, 4))
			for k, file := range files {
				if img := st.image(k, imageAll, ps, rng); !bytes.Equal(img, file) {
					t.Errorf("after %d calls, %s: got %s, the file is %s", k, imageAll, pagesOf(img, ps), pagesOf(file, ps))
				}
			}
			v, err := st.Map(int64(len(files[len(files)-1])))
			if err != nil {
				t.Fatal(err)
			}
			if b := v.Bytes(); !bytes.Equal(b, files[len(files)-1]) {
				t.Errorf("the mapping reads %s, the file is %s", pagesOf(b, ps), pagesOf(files[len(files)-1], ps))
			}
			if err := v.Close(); err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				draws := 1
				if w.mode == imageSubset {
					draws = 200
				}
				seen := make([]bool, len(w.any))
				for range draws {
					img := st.image(w.k, w.mode, ps, rng)
					i := indexOfBytes(w.any, img)
					if i < 0 {
						t.Errorf("after %d calls, %s: got %s, want one of %s", w.k, w.mode, pagesOf(img, ps), pagesOfAll(w.any, ps))
						break
					}
					seen[i] = true
				}
				for i, ok := range seen {
					if !ok {
						t.Errorf("after %d calls, %s: never got %s in %d images", w.k, w.mode, pagesOf(w.any[i], ps), draws)
					}
				}
			}
			// Torn images: every sector as in some image the subset mode
			// can make of the same length. (A page torn past the end of
			// the old length makes a length of its own: not checked.)
			for k := range files {
				var subsets [][]byte
				for range 200 {
					if img := st.image(k, imageSubset, ps, rng); indexOfBytes(subsets, img) < 0 {
						subsets = append(subsets, img)
					}
				}
				for range 50 {
					img := st.image(k, imageTorn, ps, rng)
					if !slicesHaveLen(subsets, len(img)) {
						continue
					}
				sectors:
					for off := 0; off < len(img); off += minSector {
						s := img[off:min(off+minSector, len(img))]
						for _, sub := range subsets {
							if len(sub) == len(img) && bytes.Equal(s, sub[off:min(off+minSector, len(sub))]) {
								continue sectors
							}
						}
						t.Errorf("after %d calls, %s: the sector at %d of %s is in no subset image", k, imageTorn, off, pagesOf(img, ps))
						break
					}
				}
			}
		})
	}
}

// call is one call of a script to the double.
type call func(*crashStorage) error

// pagesOf describes img page by page: each page's byte if the page is all
// that byte, else "x"; then the length.
func pagesOf(img []byte, ps int) string {
	var b bytes.Buffer
	for off := 0; off < len(img); off += ps {
		p := img[off:min(off+ps, len(img))]
		if len(bytes.Trim(p, string(p[:1]))) == 0 {
			fmt.Fprintf(&b, "%d ", p[0])
		} else {
			b.WriteString("x ")
		}
	}
	fmt.Fprintf(&b, "(%d bytes)", len(img))
	return b.String()
}

func pagesOfAll(imgs [][]byte, ps int) string {
	var out []string
	for _, img := range imgs {
		out = append(out, pagesOf(img, ps))
	}
	return fmt.Sprint(out)
}

func indexOfBytes(list [][]byte, b []byte) int {
	for i, x := range list {
		if bytes.Equal(x, b) {
			return i
		}
	}
	return -1
}

func slicesHaveLen(list [][]byte, n int) bool {
	for _, x := range list {
		if len(x) == n {
			return true
		}
	}
	return false
}
