package wal

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
)

// recovery is what Open learns from the segment files: the steps are in the
// package doc, under Recovery.
type recovery struct {
	chain   []*segment // the live segments, oldest first, each end set
	next    uint64     // the LSN the next record gets
	reuse   bool       // appends may go at the end of the chain's last segment
	garbage []*segment // .wal files outside the chain: to be recycled
	read    int64      // bytes read (tests)
	// hole is the damage passed over with allowHole, holeNext the LSN
	// of the whole frame the chain resumed at.
	hole     *CorruptError
	holeNext uint64
}

// recoverLog finds the log in files, the *.wal files in number order. A
// file whose header is not valid for its name has first == 0. With
// allowHole, damage to durable records (case 2) is passed over once if
// it is to the payloads of frames whose headers are whole, and a whole
// frame after them, on the chain, claims them durable: the chain resumes
// after them (segment.resume) and rec.hole says what was passed over.
func recoverLog(files []*segment, allowHole bool) (rec recovery, err error) {
	nextValid := func(i int) int {
		for i++; i < len(files); i++ {
			if files[i].first != 0 {
				return i
			}
		}
		return -1
	}
	inChain := make([]bool, len(files))
	var sr segReader
	defer func() { // NB: named results, so the garbage reaches the caller
		rec.read = sr.read
		for i, s := range files {
			if !inChain[i] {
				rec.garbage = append(rec.garbage, s)
			}
		}
	}()

	i := nextValid(-1)
	// The files before the first valid header would be recycled unread:
	// never-used segments (an activation cut short, recovery invariant
	// 2). One holding a frame of its own once had a valid header, as the
	// writer makes the header durable before any frame goes in: damage
	// took it, and passing over the file would drop its records, and with
	// a lone segment restart the log at LSN 1, without a word. Not so a
	// header valid for another number: a recycled segment (its own frames
	// still in it) that Log.activateLocked gave a new number and header,
	// where a crash kept the header but not the rename.
	for k := range len(files) {
		if k == i {
			break
		}
		s := files[k]
		if s.renamed {
			continue
		}
		sr.reset(s.f, s.size)
		own, err := firstOwnFrame(&sr, s)
		if err != nil {
			return rec, readError(&sr, s.path, err)
		}
		if own.evidence >= 0 {
			return rec, &CorruptError{
				Path: s.path, Segment: s.num, Offset: 0, LSN: own.claim.lsn,
				What: fmt.Sprintf("segment header not valid, yet offset %d holds a frame of this segment (lsn %d)",
					own.evidence, own.claim.lsn),
			}
		}
	}
	if i < 0 {
		rec.next, rec.reuse = 1, false
		return rec, nil
	}
	next := files[i].first
	start := int64(segHeaderSize)
	vouched := false // a frame past the hole claims the damaged records durable
	for {
		s := files[i]
		sr.reset(s.f, s.size)
		st, err := scanFrames(&sr, s.num, s.salt, start, s.size, next, nil)
		if err != nil {
			return rec, readError(&sr, s.path, err)
		}
		s.end, next, start = st.off, st.next, segHeaderSize
		vouched = vouched || rec.hole != nil && st.claim >= rec.hole.LSN
		if !inChain[i] { // resumed in after a hole, it is there already
			rec.chain, inChain[i] = append(rec.chain, s), true
		}

		// Case 1: the writer moved on to the next segment here.
		if j := nextValid(i); j >= 0 && files[j].first == next {
			i = j
			continue
		}
		// Or it did past orphans: empty segments whose first LSN the
		// chain has passed. Code before the fix in Append left one when
		// a switch failed after the new header was written, and went on
		// appending in the old segment, then switched again. An orphan
		// holds no frame of its own, and the LSNs it claims are whole
		// records before it: skipping it loses nothing.
		j := nextValid(i)
		for j >= 0 && files[j].first < next {
			if own, err := holdsFrames(&sr, files[j]); err != nil {
				return rec, readError(&sr, files[j].path, err)
			} else if own {
				break
			}
			j = nextValid(j)
		}
		if j >= 0 && j != nextValid(i) && files[j].first == next {
			i = j
			continue
		}

		// The log ends in s at st.off, unless something after that point
		// shows the record expected there had been made durable (case 2).
		sr.reset(s.f, s.size) // holdsFrames may have moved it
		rep, err := scanTail(&sr, s.num, s.salt, st.off, next, 0)
		if err != nil {
			return rec, readError(&sr, s.path, err)
		}
		ev, evSeg := rep, s
		// room: the bytes the records expected from next on may take
		// before the segment scanned, for scanTail's bound; none once a
		// segment number is missing (its size is not known).
		room := s.size - st.off
		for k := i + 1; k < len(files) && ev.evidence < 0; k++ {
			if room >= 0 && files[k].num != files[k-1].num+1 {
				room = -1
			}
			evSeg = files[k]
			sr.reset(evSeg.f, evSeg.size)
			ev, err = scanOwn(&sr, evSeg, segHeaderSize, next, room)
			if room >= 0 {
				room += max(evSeg.size-segHeaderSize, 0)
			}
			if err != nil {
				return rec, readError(&sr, evSeg.path, err)
			}
			// A frame of its own under a header valid for no segment:
			// damage, as before the log (above), not an activation cut
			// short. Its records may be synced ones no later frame
			// vouches for.
			if ev.evidence < 0 && ev.own && evSeg.first == 0 && !evSeg.renamed {
				return rec, &CorruptError{
					Path: evSeg.path, Segment: evSeg.num, Offset: 0, LSN: next,
					What: "segment header not valid, yet the segment holds frames of its own",
				}
			}
		}
		if ev.evidence >= 0 {
			why := "end of segment"
			if st.why != nil {
				why = st.why.Error()
			}
			if j := i + 1; j < len(files) {
				if files[j].first == 0 {
					why += fmt.Sprintf(", and %s has no valid header", files[j].path)
				} else {
					why += fmt.Sprintf(", and %s starts at lsn %d", files[j].path, files[j].first)
				}
			}
			cerr := &CorruptError{
				Path: s.path, Segment: s.num, Offset: st.off, LSN: next,
				What: fmt.Sprintf("%s; yet %s offset %d holds lsn %d, written after lsn %d was durable",
					why, evSeg.path, ev.evidence, ev.claim.lsn, ev.claim.durableClaim()),
			}
			// The log resumes only past frames whose own headers are
			// whole (damage to their payloads): their lengths say where
			// the next frame lies. NB: not at the evidence, which is
			// any frame header found at any 8-byte boundary: one in a
			// damaged or torn record's payload, or in a recycled
			// segment's stale bytes past its new frames, is a payload's
			// bytes (a database value), and the log resumed at it took
			// a forged record for a real one, and the real records after
			// it for a torn tail, recycling their segments
			// (TestHoleBaitInDamagedRecord).
			if !allowHole || rec.hole != nil || st.why != errPayloadSum {
				return rec, cerr
			}
			sr.reset(s.f, s.size)
			off, lsn, err := skipDamaged(&sr, s.num, s.salt, st.off, s.size, next)
			if err != nil {
				return rec, readError(&sr, s.path, err)
			}
			rec.hole, rec.holeNext = cerr, lsn
			s.resume, s.resumeLSN = off, lsn
			start, next = off, lsn
			continue
		}
		// Case 3: a torn tail. Appending right here is safe only if no
		// header of this segment's own lies past the stop point, whole
		// frames of the crashed session among them.
		//
		// After a hole, the chain resumed past it must itself show the
		// damaged records durable (a frame of it claims so): the
		// evidence that made it a hole may be a payload's bytes, and
		// without it the damage is as likely a torn write.
		if rec.hole != nil && !vouched {
			return rec, rec.hole
		}
		rec.next, rec.reuse = next, !rep.own
		return rec, nil
	}
}

// firstOwnFrame finds the first whole frame header of segment s past its
// segment header, which is not valid for s: rep.evidence is its offset
// (-1: none), rep.claim the header.
func firstOwnFrame(sr *segReader, s *segment) (tailReport, error) {
	// NB: every header's durable claim is at least 0, so scanTail stops at
	// the first one of s's own.
	return scanOwn(sr, s, segHeaderSize, 0, -1)
}

// scanOwn is scanTail for segment s from off, under the salt its header
// gives, or, when the header is not valid for s, under each salt its
// frames may have been sealed with (ownSalts). The report is the first
// one with evidence, else one that saw a frame of s's own if any did.
func scanOwn(sr *segReader, s *segment, off int64, next uint64, room int64) (tailReport, error) {
	if s.first != 0 {
		return scanTail(sr, s.num, s.salt, off, next, room)
	}
	salts, err := ownSalts(sr, s)
	rep := tailReport{evidence: -1}
	for _, salt := range salts {
		if err != nil {
			break
		}
		var r tailReport
		r, err = scanTail(sr, s.num, salt, off, next, room)
		if r.evidence >= 0 || r.own && !rep.own {
			rep = r
		}
		if rep.evidence >= 0 {
			break
		}
	}
	return rep, err
}

// ownSalts returns the salts the frames of segment s, whose header is not
// valid for it (damaged, or another number's), may have been sealed with.
// A valid header was durable before any frame went in (recovery
// invariant 2), so frames of s's own mean damage, and Open must see them
// (recoverLog); but the salt was in that header. The first frame lies
// just past it, so its header checksum gives the salt back (saltOf),
// which counts if the frame is whole with it: of s, and its payload
// checks (a checksum the salt does not touch). Failing that, the salt
// field of the damaged header, when its version field says 2; or 0 when
// it says 1 (frames of an older folio).
//
// NB: not 0 whatever the header says: frames forged in a stored value
// without the salt would count as s's own then, and a log could be
// refused for bytes nobody wrote as frames.
func ownSalts(sr *segReader, s *segment) ([]uint32, error) {
	var salts []uint32
	add := func(salt uint32) {
		if !slices.Contains(salts, salt) {
			salts = append(salts, salt)
		}
	}
	if s.size >= segHeaderSize+frameHeaderSize {
		b, err := sr.bytes(segHeaderSize, frameHeaderSize)
		if err != nil {
			return nil, err
		}
		salt := saltOf(b)
		h, err := parseFrameHeader(b, salt)
		if err == nil && h.segment == uint32(s.num) && h.length <= MaxRecordSize && h.size() <= s.size-segHeaderSize {
			sum, err := sr.checksum(segHeaderSize+frameHeaderSize, int64(h.length))
			if err != nil {
				return nil, err
			}
			if sum == h.payloadSum {
				add(salt)
			}
		}
	}
	if s.size >= segHeaderSize {
		b, err := sr.bytes(0, segHeaderSize)
		if err != nil {
			return nil, err
		}
		switch binary.LittleEndian.Uint16(b[offSegVersion:]) {
		case segVersion:
			if salt := binary.LittleEndian.Uint32(b[offSegSalt:]); salt != 0 {
				add(salt)
			}
		case segVersionUnsalted:
			add(0)
		}
	}
	return salts, nil
}

// holdsFrames reports whether segment s holds any whole frame header of
// its own, anywhere.
func holdsFrames(sr *segReader, s *segment) (bool, error) {
	sr.reset(s.f, s.size)
	st, err := scanFrames(sr, s.num, s.salt, segHeaderSize, s.size, s.first, nil)
	if err != nil || st.off > segHeaderSize {
		return true, err
	}
	rep, err := scanTail(sr, s.num, s.salt, segHeaderSize, math.MaxUint64, -1)
	return rep.own, err
}

// skipDamaged walks the frames of segment num from off, the first one
// whose payload does not check, while their headers are whole, of num,
// with the LSNs expected from next, and their payloads do not check.
// It returns the offset and LSN after them. REQUIRES: the frame at off
// has such a header (scanFrames stopped there with errPayloadSum).
func skipDamaged(sr *segReader, num uint64, salt uint32, off, limit int64, next uint64) (int64, uint64, error) {
	for off+frameHeaderSize <= limit {
		b, err := sr.bytes(off, frameHeaderSize)
		if err != nil {
			return off, next, err
		}
		h, err := parseFrameHeader(b, salt)
		if err != nil || h.segment != uint32(num) || h.lsn != next || h.length > MaxRecordSize || h.size() > limit-off {
			break
		}
		sum, err := sr.checksum(off+frameHeaderSize, int64(h.length))
		if err != nil {
			return off, next, err
		}
		if sum == h.payloadSum {
			break
		}
		off += h.size()
		next++
	}
	return off, next, nil
}
