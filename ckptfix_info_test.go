package folio

import (
	"fmt"
	"sync"
	"testing"

	"github.com/foliodb/folio/page"
	"github.com/foliodb/folio/tx"
)

// probeLog is a log double that calls probe before each Append and
// Truncate. A checkpoint truncates the log and appends an anchor after
// its meta is in the file and before its commit is published: a probe
// there sees what Info shows in between.
type probeLog struct {
	tx.Log
	probe func(call string)
}

func (l *probeLog) Append(payload []byte) (uint64, error) {
	l.probe("append")
	return l.Log.Append(payload)
}

func (l *probeLog) Truncate(upTo uint64) error {
	l.probe("truncate")
	return l.Log.Truncate(upTo)
}

// TestInfoCheckpointCoherent reads Info while every commit checkpoints
// (CheckpointBytes 1): from inside each checkpoint, between its meta
// write and its publication (the log double's calls), from a goroutine
// calling Info in a loop, and after each commit. Every reading must be
// of one moment: CheckpointTxID at most TxID, LogPending their
// difference, and CheckpointTxID the txid of a checkpoint, whose meta
// the file holds in slot MetaSlot. After each commit, CheckpointTxID is
// its checkpoint's txid, the published one. A checkpoint once recorded
// its txid, and its meta slot, before its commit was published; Info
// capped the txid at the published one, and so showed a logged commit's
// txid as checkpointed, and the slot of a meta not yet published.
func TestInfoCheckpointCoherent(t *testing.T) {
	const ps = 1024
	st := newCrashStorage(t, tx.InitialImage(ps))
	var db *DB
	// fileMeta is the meta the file holds in slot.
	fileMeta := func(slot int) (page.Meta, error) {
		buf := make([]byte, ps)
		if _, err := st.file.ReadAt(buf, int64(slot*ps)); err != nil {
			return page.Meta{}, err
		}
		return page.DecodeMeta(buf, page.ID(slot))
	}
	// coherent checks one reading; inFile: whether its meta slot can be
	// read from the file now (no checkpoint may be writing it).
	coherent := func(where string, in Info, inFile bool) error {
		if in.CheckpointTxID > in.TxID || in.LogPending < 0 || int(in.TxID-in.CheckpointTxID) != in.LogPending {
			return fmt.Errorf("%s: Info: txid %d, checkpoint txid %d, %d commits pending", where, in.TxID, in.CheckpointTxID, in.LogPending)
		}
		if !inFile {
			return nil
		}
		m, err := fileMeta(in.MetaSlot)
		if err != nil {
			return fmt.Errorf("%s: Info: meta slot %d: %v", where, in.MetaSlot, err)
		}
		if m.TxID != in.CheckpointTxID {
			return fmt.Errorf("%s: Info: checkpoint txid %d in meta slot %d (txid %d published), but the file's meta there has txid %d",
				where, in.CheckpointTxID, in.MetaSlot, in.TxID, m.TxID)
		}
		return nil
	}
	probes := 0
	lg := &probeLog{Log: newCrashLog(st), probe: func(call string) {
		if db == nil {
			return // Open's own anchor
		}
		probes++
		in, err := db.Info()
		if err == nil {
			err = coherent("inside a commit, at a log "+call, in, true)
		}
		if err != nil {
			t.Error(err)
		}
	}}
	d, err := tx.OpenWithLog("info.db", st, lg, &Options{WAL: true, NoSync: true, CheckpointBytes: 1})
	if err != nil {
		t.Fatal(err)
	}
	db = d
	defer db.Close()
	d.AllocSize = 16 * ps

	// slots[txid] is the meta slot of the checkpoint with that txid, as
	// read after each commit.
	slots := map[page.TxID]int{}
	settled := func(where string) {
		t.Helper()
		in, err := db.Info()
		if err == nil {
			err = coherent(where, in, true)
		}
		if err != nil {
			t.Fatal(err)
		}
		if in.CheckpointTxID != in.TxID {
			t.Fatalf("%s: Info: checkpoint txid %d, txid %d: the commit's checkpoint is not the one shown", where, in.CheckpointTxID, in.TxID)
		}
		slots[in.CheckpointTxID] = in.MetaSlot
	}
	settled("after open")

	commits := 300
	if raceEnabled {
		commits = 100
	}
	var samples []Info
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			in, err := db.Info()
			if err != nil {
				t.Error(err)
				return
			}
			samples = append(samples, in)
		}
	}()
	for i := 0; i < commits; i++ {
		err := db.Update(func(tx *Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			return b.Put([]byte(fmt.Sprintf("k%04d", i)), []byte("v"))
		})
		if err != nil {
			t.Fatal(err)
		}
		settled(fmt.Sprintf("after commit %d", i))
	}
	close(stop)
	wg.Wait()
	if probes < commits {
		t.Fatalf("the log double was called %d times in %d commits: no checkpoints?", probes, commits)
	}
	shown := 0
	for _, in := range samples {
		if err := coherent("concurrently", in, false); err != nil {
			t.Fatal(err)
		}
		slot, ok := slots[in.CheckpointTxID]
		switch {
		case !ok:
			t.Fatalf("concurrently: Info: checkpoint txid %d (txid %d published), but no checkpoint had that txid", in.CheckpointTxID, in.TxID)
		case slot != in.MetaSlot:
			t.Fatalf("concurrently: Info: checkpoint txid %d in meta slot %d, but that checkpoint wrote slot %d", in.CheckpointTxID, in.MetaSlot, slot)
		}
		if in.LogPending > 0 {
			shown++
		}
	}
	t.Logf("%d commits, %d readings inside them, %d concurrent ones (%d with a commit not yet checkpointed)", commits, probes, len(samples), shown)
}
