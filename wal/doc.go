// Package wal is folio's write-ahead log: an append-only sequence of framed,
// checksummed, optionally compressed records stored in a directory of
// fixed-size segment files. Each record is named by a log sequence number
// (LSN): 1 for the first record a log ever holds, then consecutive. The
// package imports nothing of folio; a record is opaque bytes.
//
// # Files
//
// A live segment is named by its number in 16 hex digits
// ("0000000000000007.wal"). Numbers only grow and are never given to a second
// segment, so "this frame was written in segment 7" is a test that a stale
// frame, left in a recycled file by its earlier life, fails; and so does
// its salt (below). Other entries
// in the directory are not segments (upper-case hex included), but keep
// their numbers from new segments; a symbolic link to a segment file is
// that segment. A new segment is preallocated to Options.SegmentSize. A
// segment the log no longer needs is renamed "<number>.free" and later
// renamed to the next number and reused: the commit path writes only
// inside allocated blocks of a file whose size does not change, so
// fdatasync has no size metadata to flush. Blocks that were allocated but
// never written still cost a journal commit on their first sync, so a
// background goroutine keeps a spare segment written full of zeros ready
// when no recycled one is (spare.go).
//
// All integers are little-endian. A segment starts with a 32-byte header:
//
//	off  size  field
//	  0     4  checksum  CRC-32C (Castagnoli) of bytes [4, 32)
//	  4     4  magic     "fWAL"
//	  8     2  version   2 (1: the first format, read still; see Salt)
//	 10     2  (zero)
//	 12     4  salt      seeds the frames' header checksums; not 0
//	                     (version 1: zero, and no salt)
//	 16     8  number    the segment's number, as in its file name
//	 24     8  first     the LSN of the first record written in it
//	 32        frames, one after another, each at a multiple of 8
//
// A record is one frame:
//
//	off  size  field
//	  0     4  header checksum   CRC-32C of bytes [4, 32) of the frame,
//	                             its register started at the segment's
//	                             salt: hash/crc32's Update(salt, ...)
//	  4     4  payload checksum  CRC-32C of the stored payload
//	  8     4  length            stored payload bytes
//	 12     2  flags             bit 0: payload is s2-compressed (block
//	                             format); other bits zero
//	 14     2  (zero)
//	 16     8  lsn               the record's LSN
//	 24     4  segment           low 32 bits of the number of the segment
//	                             the frame was written in
//	 28     4  unsynced          lsn minus the highest LSN that was durable
//	                             when the frame was written; at least 1;
//	                             2^32-1 claims nothing (saturated)
//	 32        stored payload, then zero bytes up to a multiple of 8
//
// The header has its own checksum so that a header can be trusted (its
// length, its claims) without its payload: recovery uses that to look past
// a damaged frame cheaply. Everything marked "wire format" in this package
// must never change without a new version.
//
// # Salt
//
// A record's payload is stored as given (uncompressed, or s2 failing to
// shrink it), so a database value can hold whole frame headers, and
// recovery looks for headers at every 8-byte boundary (case 2 below).
// The salt keeps such bytes from passing for frames, as SQLite's WAL
// header salts do. Each time the log initialises a segment file (a new
// one, or a recycled one given its new number) it draws a salt from
// crypto/rand, and seeds every frame header checksum in the segment with
// it. For the 28 bytes summed, the checksum is then the unsalted one xor
// a linear bijection of the salt, so a header sealed under one salt
// fails under every other: one forged with version 1's checksum (no
// salt) never passes in a salted segment, one built with a guessed salt
// passes with chance 2^-32, and so does a frame of the file's earlier
// life (whose salt was drawn apart; its number differs too). 32 bits are all a
// CRC-32 can use: a longer seed still reaches it through its 32-bit
// register. The payload checksum is not salted: the writer takes it
// before it knows which segment the frame goes to, and the header
// checksum covers it.
//
// A version 1 segment (folio before the salt) reads as salt 0: a log
// left by an older folio recovers and replays as before, and new records
// go to a new, salted segment, not after its end. A segment header of a
// newer version, checksum and magic whole, makes Open fail with
// ErrVersion and change nothing; so a later version keeps the checksum,
// magic and version where they are. NB: a folio before the salt reads a
// version 2 segment as a header not valid, holding no frame of its own,
// and recycles it: going back to it loses the log.
//
// A segment whose header is damaged lost its salt with it, and its frames
// must still be seen (Recovery, below). Its first frame, right after the
// header, gives the salt back: any 32 bytes check under exactly one
// salt, and that one counts if the frame is whole with it (its segment,
// its payload checksum). Failing that, the damaged header's salt field,
// or salt 0 if its version field says 1.
//
// # Recovery
//
// Open reads every live segment from its start, up to the largest size the
// log makes (Options.SegmentSize); the scans past a stop point skip holes.
// The log starts at the first segment whose header is valid; a segment
// before it, or past the log's end, whose header is not valid for any
// segment, yet which holds a frame of its own, had its header damaged (a
// header is durable before any frame goes in, invariant 2 below): Open
// returns an error wrapping ErrCorrupt rather than pass over its records.
//
// A frame is whole when both checksums match (the header's under its
// segment's salt), its segment field names the segment it is in and its
// lsn is the next one expected. Reading a segment
// stops at the first frame that is not whole, and then:
//
//  1. If the next segment's header says its first LSN is the one expected,
//     the writer moved on there (this segment was full, or an earlier
//     session ended here); reading continues there. So it does past
//     orphans: segments holding no frame of their own whose header claims
//     an LSN below the one expected (older code left them when a segment
//     switch failed halfway); Open recycles them.
//  2. Otherwise, if any frame header after the stop point (later in this
//     segment, or in any later segment) is itself whole, belongs to its
//     segment, and says through its unsynced field that the expected LSN
//     was already durable when it was written (and the records before
//     its LSN fit between the stop point and it, a bare frame header
//     each: a header that is a payload's bytes may claim any LSN), a
//     record the log had made durable is damaged. Open returns an error
//     wrapping ErrCorrupt that names the segment and offset. It never
//     skips the record, unless asked to (Options.AllowHole): then, once,
//     if the damage is to the payloads of frames whose headers are whole
//     (their lengths say where the next frame lies), and a whole frame
//     of the chain after them claims them durable, the log resumes after
//     them; Log.Hole reports the damage, and Replay reads only from past
//     it.
//     Not at the frame that showed the damage: a header found at any
//     8-byte boundary may be a payload's bytes (a record's value, or a
//     recycled segment's stale ones), and so may that frame: the salt
//     makes that unlikely, not impossible (a version 1 segment, or a
//     2^-32 chance).
//  3. Otherwise the stop point is the torn tail of the log: what lies there
//     was never made durable (a crash mid-write, zeros of a preallocated
//     region, stale frames of a recycled file). The log ends at the last
//     whole record.
//
// The unsynced field is what tells 2 from 3; it is the idea of the sync
// offsets in cockroachdb/pebble record/record.go, counted in LSNs.
//
// NB: damage to records that no later frame vouches for (the records
// appended after the last sync that a later frame recorded, such as the
// last ones before a clean Close) looks like a torn tail and ends the log
// there. This is the price of telling a tear from corruption by the bytes
// alone.
//
// After recovery, appends never go after a torn tail that could hold whole
// frames of the crashed session: those frames carry the very LSNs the new
// session would hand out, and one of them could later pass for a new
// record. Open reuses the last segment only when no header of its own lies
// past the stop point; otherwise it starts a new segment, whose fresh
// number makes all of them stale. Segments after the end hold only
// records that were never durable; Open recycles them.
//
// What recovery relies on the writer for, each kept where it is owned:
//
//  1. A frame's unsynced field never claims more than was durable
//     (sync.go, INVARIANT (1)).
//  2. A segment's header is durable before the segment takes a record, and
//     its name before a record in it is synced (Log.activateLocked): a
//     segment with a bad header never held a synced record, and the LSN
//     count survives a Truncate that leaves one empty segment.
//  3. The live segments are always a suffix of the log: Truncate recycles
//     oldest first, syncing the directory after each, so no crash leaves a
//     hole that would read as lost records (Log.Truncate).
//  4. The log's directory has a durable name before a record in it is
//     synced: a read-write Open syncs its parent, and that of each
//     directory it makes (mkdirDurable), or a power loss could take the
//     whole log.
package wal
