package folio

import (
	"sync"
	"testing"
)

// TestInfoDuringCheckpoints reads Info while commits checkpoint (a small
// CheckpointBytes makes every commit one): LogPending is never negative,
// and the figures agree (TxID = CheckpointTxID + LogPending). A
// checkpoint records its txid before its commit is published, and Info
// once read the checkpoint's txid against the older published one (-1).
func TestInfoDuringCheckpoints(t *testing.T) {
	db := openTest(t, &Options{PageSize: 1024, WAL: true, NoSync: true, CheckpointBytes: 1})
	mustUpdate(t, db, func(tx *Tx) error { _, err := tx.CreateBucket([]byte("b")); return err })
	commits := 500
	if raceEnabled {
		commits = 200
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
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
			if in.LogPending < 0 || in.CheckpointTxID > in.TxID || int(in.TxID-in.CheckpointTxID) != in.LogPending {
				t.Errorf("Info: txid %d, checkpoint txid %d, %d commits pending", in.TxID, in.CheckpointTxID, in.LogPending)
				return
			}
		}
	}()
	for i := 0; i < commits; i++ {
		if err := db.Update(func(tx *Tx) error { return tx.Bucket([]byte("b")).Put([]byte{byte(i)}, []byte("v")) }); err != nil {
			t.Error(err)
			break
		}
	}
	close(stop)
	wg.Wait()
}
