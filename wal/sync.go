package wal

import (
	"fmt"
)

// Group commit.
//
// SyncTo elects a leader among concurrent callers: the first caller that
// finds records not yet durable and no sync under way becomes the leader;
// it snapshots the last appended LSN and the segments written since the
// previous snapshot, fdatasyncs them, publishes the LSN as durable and
// wakes the others. A caller whose LSN the leader covered returns; one
// that appended after the snapshot becomes the next leader, and its sync
// covers everything appended meanwhile. So N callers arriving during one
// sync share the next one: at most two syncs for any burst of callers.
//
// No timer waits for more callers to arrive: a lone committer pays no
// latency for batching, and under load the batch is exactly what
// accumulated during the previous sync. (Rejected: a fixed or adaptive
// delay as in some databases' commit_delay; it taxes every lone commit to
// guess at a load the leader/follower scheme measures for free.)
//
// INVARIANT (1): durable only grows, and only after every segment holding
// a record <= durable has been fdatasynced. The unsynced field of each
// frame is computed from durable, so recovery may trust the claim it makes
// (see the package doc, case 2).
//
// INVARIANT (2): at most one leader runs at a time (syncing), so
// syncFiles, the leader's snapshot, needs no lock.

// Sync makes every record appended so far durable.
func (l *Log) Sync() error {
	l.mu.Lock()
	last := l.last
	l.mu.Unlock()
	return l.SyncTo(last)
}

// SyncTo returns once the record at lsn, and every record before it, is
// durable. It is safe for concurrent callers, and concurrent callers share
// fdatasyncs. An lsn not yet appended is an error. After an fdatasync
// fails, every later call returns that error: the kernel may have dropped
// the dirty pages it failed to write, so nothing unsynced can be trusted
// and the log must be reopened (and recovered) before it is used again.
// The same holds once an Append has failed (see Append).
func (l *Log) SyncTo(lsn uint64) error {
	if lsn <= l.durable.Load() {
		return nil
	}
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	for {
		switch {
		case l.syncErr != nil:
			return l.syncErr
		case l.durable.Load() >= lsn:
			return nil
		case l.syncing:
			l.waiters++
			l.syncCond.Wait()
			l.waiters--
			continue
		}

		l.syncing = true
		l.syncMu.Unlock()
		target, err := l.syncOnce()
		l.syncMu.Lock()
		l.syncing = false
		if err != nil {
			l.syncErr = err
		} else if target > l.durable.Load() {
			l.durable.Store(target) // INVARIANT (1)
		}
		l.syncCond.Broadcast()
		if err == nil && target < lsn {
			return fmt.Errorf("folio/wal: SyncTo(%d): only %d records appended", lsn, target)
		}
	}
}

// syncOnce is the leader's work: it returns the LSN it made durable.
// REQUIRES: the caller is the leader (l.syncing was set by it).
func (l *Log) syncOnce() (uint64, error) {
	l.mu.Lock()
	switch {
	case l.closed:
		l.mu.Unlock()
		return 0, ErrClosed
	case l.failed != nil:
		// An append failed (Log.Append): the log must be reopened, so no
		// sync may report success for what was appended since the last
		// one. SyncTo keeps the error as it keeps an fdatasync's.
		err := l.failed
		l.mu.Unlock()
		return 0, err
	}
	target := l.last
	l.syncFiles, l.dirty = l.dirty, l.syncFiles[:0]
	for _, s := range l.syncFiles {
		s.dirty, s.syncing = false, true
	}
	l.mu.Unlock()

	var err error
	for _, s := range l.syncFiles {
		l.syncs.Add(1)
		if err = l.fdatasync(s.f); err != nil {
			break
		}
	}

	if err != nil {
		err = fmt.Errorf("folio/wal: sync failed, log must be reopened: %w", err)
	}
	l.mu.Lock()
	for _, s := range l.syncFiles {
		s.syncing = false
	}
	clear(l.syncFiles) // drop references to segments Truncate may recycle
	if err != nil && l.failed == nil {
		l.failed = err // appends stop too
	}
	l.mu.Unlock()
	return target, err
}
