package tx

import (
	"slices"
	"strings"
)

// bucketSet holds the nested buckets a transaction opened in one bucket,
// by name: a short slice searched in order, and a map once there are more
// than bucketSetFew. A read transaction opens one or two; for those, a
// map's clear (which reseeds its hash) and insert made a one-get View
// with the pages in cache 279 ns rather than 261.
type bucketSet struct {
	few  []*Bucket
	many map[string]*Bucket // nil until few overflows
}

const bucketSetFew = 8

func (s *bucketSet) get(name []byte) *Bucket {
	if s.many != nil {
		return s.many[string(name)]
	}
	for _, c := range s.few {
		if c.name == string(name) {
			return c
		}
	}
	return nil
}

// put adds c, whose name is not in s.
func (s *bucketSet) put(c *Bucket) {
	if s.many == nil && len(s.few) < bucketSetFew {
		s.few = append(s.few, c)
		return
	}
	if s.many == nil {
		s.many = make(map[string]*Bucket, 2*bucketSetFew)
		for _, b := range s.few {
			s.many[b.name] = b
		}
		clear(s.few)
		s.few = s.few[:0]
	}
	s.many[c.name] = c
}

func (s *bucketSet) delete(name string) {
	if s.many != nil {
		delete(s.many, name)
		return
	}
	if i := slices.IndexFunc(s.few, func(c *Bucket) bool { return c.name == name }); i >= 0 {
		s.few = slices.Delete(s.few, i, i+1)
	}
}

func (s *bucketSet) len() int { return len(s.few) + len(s.many) }

// sorted returns the buckets in name order.
func (s *bucketSet) sorted() []*Bucket {
	out := make([]*Bucket, 0, s.len())
	out = append(out, s.few...)
	for _, c := range s.many {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b *Bucket) int { return strings.Compare(a.name, b.name) })
	return out
}

// reset empties s, keeping the slice for the next transaction; a map is
// dropped, as the next use will likely not need it.
func (s *bucketSet) reset() {
	clear(s.few)
	s.few = s.few[:0]
	s.many = nil
}
