package folio

import (
	"fmt"
	"testing"
)

func TestSmoke(t *testing.T) {
	db := openTest(t, nil)
	err := db.Update(func(tx *Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		for i := 0; i < 2000; i++ {
			if err := b.Put([]byte(fmt.Sprintf("k%05d", i)), []byte(fmt.Sprintf("v%d", i))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	db = reopen(t, db, nil)
	err = db.View(func(tx *Tx) error {
		b := tx.Bucket([]byte("b"))
		if b == nil {
			return fmt.Errorf("no bucket")
		}
		if v := b.Get([]byte("k01234")); string(v) != "v1234" {
			return fmt.Errorf("get = %q", v)
		}
		n := 0
		c := b.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			n++
		}
		if n != 2000 {
			return fmt.Errorf("n = %d", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
