package folio

import (
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestTxStatsIncLikeBbolt: bbolt 1.4.3's TxStats has an Inc… method
// beside each Get… (its fields are deprecated for them); a program
// moving over calls them. Each Inc… of folio's adds to the field of its
// name and returns the new value, as bbolt's does, for the same calls.
func TestTxStatsIncLikeBbolt(t *testing.T) {
	var fs TxStats
	var bs bolt.TxStats
	fv, bv := reflect.ValueOf(&fs), reflect.ValueOf(&bs)
	n := 0
	for m := range bv.Type().Methods() {
		name, ok := strings.CutPrefix(m.Name, "Inc")
		if !ok {
			continue
		}
		n++
		fm := fv.MethodByName(m.Name)
		if !fm.IsValid() {
			t.Errorf("bbolt's TxStats.%s: folio has none", m.Name)
			continue
		}
		for _, delta := range []int64{3, -1, 40} {
			arg := reflect.ValueOf(delta).Convert(m.Type.In(1))
			fout, bout := fm.Call([]reflect.Value{arg}), bv.Method(m.Index).Call([]reflect.Value{arg})
			if got, want := fout[0].Interface(), bout[0].Interface(); got != want {
				t.Errorf("%s(%d): folio %v, bbolt %v", m.Name, delta, got, want)
			}
			get := "Get" + name
			if got, want := fv.MethodByName(get).Call(nil)[0].Interface(), bv.MethodByName(get).Call(nil)[0].Interface(); got != want {
				t.Errorf("%s after %s(%d): folio %v, bbolt %v", get, m.Name, delta, got, want)
			}
			if got, want := fv.Elem().FieldByName(name).Interface(), bv.Elem().FieldByName(name).Interface(); got != want {
				t.Errorf("field %s after %s(%d): folio %v, bbolt %v", name, m.Name, delta, got, want)
			}
		}
	}
	if n != 12 {
		t.Errorf("bbolt's TxStats has %d Inc… methods; this test was written for 12", n)
	}
}

// TestTxStatsIncConcurrent: bbolt's Inc… and Get… are atomic, so that
// a program may count into one TxStats from several goroutines (and
// read it meanwhile). Run with -race.
func TestTxStatsIncConcurrent(t *testing.T) {
	var s TxStats
	const goroutines, each = 4, 1000
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range each {
				s.IncPageCount(1)
				s.IncWriteTime(time.Nanosecond)
				_ = s.GetPageCount()
				_ = s.GetWriteTime()
			}
		})
	}
	wg.Wait()
	if got := s.GetPageCount(); got != goroutines*each {
		t.Errorf("PageCount %d, want %d", got, goroutines*each)
	}
	if got := s.GetWriteTime(); got != goroutines*each*time.Nanosecond {
		t.Errorf("WriteTime %v, want %v", got, goroutines*each*time.Nanosecond)
	}
}
