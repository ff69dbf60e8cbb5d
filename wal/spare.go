package wal

import (
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
)

// Spare segments.
//
// Blocks that fallocate reserved are "unwritten" (cold): the first write to
// each must also change the file's extent tree, so the fdatasync after it
// commits a file-system journal transaction as well as the data. On ext4
// over this project's virtio disk a 4 KiB write plus fdatasync measured
// 151 µs (median) into cold blocks and 97 µs into blocks written before
// (warm): a commit in a cold segment costs half as much again. Warming a
// segment means writing it full of zeros and syncing it, which measured
// 140 to 190 ms for 64 MiB: far too long for the commit path, where a
// rotation happens, or for Open.
//
// So a background goroutine keeps one warm spare ready whenever the free
// pool runs dry: it writes a new "<number>.free" file full of zeros and
// syncs it. A rotation takes a warm spare if there is one; and a cold
// segment (made by fallocate because no spare was ready, as the first
// segment of a new log always is) hands over to a warm spare as soon as
// one is ready, leaving its unused blocks behind. Recycled segments were
// written nearly to the end before they rotated, so they are warm.
//
// Rejected: zeroing ahead of the writer inside the active segment (the
// writer would have to wait whenever it caught up, on the commit path),
// and FALLOC_FL_ZERO_RANGE (ext4 makes those blocks unwritten too).

// warmSpareLocked reports whether the pool holds a warm segment that can
// take a frame of need bytes. REQUIRES: l.mu held.
func (l *Log) warmSpareLocked(need int64) bool {
	size := l.segmentSizeFor(need)
	return slices.ContainsFunc(l.free, func(fs freeSeg) bool { return fs.warm && fs.size >= size })
}

// segmentSizeFor is the size of a segment that can take a frame of need
// bytes.
func (l *Log) segmentSizeFor(need int64) int64 {
	return max(l.opts.SegmentSize, (segHeaderSize+need+4095)&^4095)
}

// maybeMakeSpareLocked starts the spare maker if the pool is empty and none
// is running. REQUIRES: l.mu held.
func (l *Log) maybeMakeSpareLocked() {
	if l.making || l.closing || len(l.free) > 0 || l.opts.MaxFreeSegments == 0 || l.opts.noSpares {
		return
	}
	l.making = true
	num := l.nextNum
	l.nextNum++
	l.bg.Add(1)
	go l.makeSpare(num, l.opts.SegmentSize)
}

// makeSpare writes a warm free segment. A failure only means no spare: the
// rotation that would have used it makes a cold segment and reports any
// error itself.
func (l *Log) makeSpare(num uint64, size int64) {
	defer l.bg.Done()
	path := filepath.Join(l.dir, freeName(num))
	err := func() error {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return err
		}
		// fallocate first where it works, so the blocks come contiguous.
		_, err = preallocate(f, size)
		if err == nil {
			err = writeZeros(f, size, &l.stopping)
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	}()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.making = false
	if err != nil {
		os.Remove(path)
		return
	}
	l.free = append(l.free, freeSeg{num: num, size: size, warm: true})
}

// errStopped ends writeZeros early when the log closes.
var errStopped = os.ErrClosed

// zeros is what writeZeros writes: static, so making a spare allocates
// nothing on a commit path that allocates nothing.
var zeros [64 << 10]byte

// writeZeros writes f full of zeros up to size and syncs it, so its blocks
// are allocated and written (warm). It gives up between writes once *stop
// is set.
func writeZeros(f *os.File, size int64, stop *atomic.Bool) error {
	for off := int64(0); off < size; {
		if stop != nil && stop.Load() {
			return errStopped
		}
		n, err := f.WriteAt(zeros[:min(int64(len(zeros)), size-off)], off)
		if err != nil {
			return err
		}
		off += int64(n)
	}
	return fdatasync(f)
}
