package tx

import (
	"github.com/foliodb/folio/btree"
	"github.com/foliodb/folio/page"
)

// BucketStructure is the shape of a bucket and of the buckets under it
// (bbolt's type, with its JSON names).
type BucketStructure struct {
	Name     string            `json:"name"`              // the bucket's name; "root" for the one Inspect was called on
	KeyN     int               `json:"keyN"`              // its keys holding values (nested buckets are not counted)
	Children []BucketStructure `json:"buckets,omitempty"` // its nested buckets, in key order (nil: none)
}

// Inspect returns the structure of the top level and of every bucket
// under it (see Bucket.Inspect). The top level holds only buckets: its
// KeyN is 0.
func (tx *Tx) Inspect() BucketStructure { return tx.root.Inspect() }

// Inspect returns the structure of the bucket and of every bucket under
// it, as this transaction sees them (in a write transaction, its
// changes so far included), as bbolt's does: the bucket it is called on
// is named "root", whatever its name. The nil *Bucket of a missing name,
// a deleted bucket and one whose transaction ended return the zero
// BucketStructure: they name no bucket (Stats reports zero stats for
// them, likewise).
//
// NB: bbolt's has no error result, and neither has this one. At a
// damaged page, or at a bucket header that reaches a tree already
// walked (headers forming a cycle, or two buckets sharing a tree),
// Inspect stops and returns what it read before, and the transaction
// fails with that ErrCorrupt error, naming the page, as it does for Get
// and cursors: View and Update return it, Tx.Err reports it and Commit
// refuses. (bbolt's reads what it finds: a page it cannot make sense
// of panics, and on a cycle it recurses until the stack overflows,
// which kills the process.)
//
// It opens a handle for each bucket, as walking them with Bucket does:
// they stay with the transaction until it ends.
func (b *Bucket) Inspect() BucketStructure {
	if b.walkCheck() != nil {
		return BucketStructure{}
	}
	// NB: a worklist, not recursion, as walkTrees: buckets nest as deep
	// as a program asks. Each level keeps its cursor where it was.
	type level struct {
		b  *Bucket
		c  btree.Cursor
		bs BucketStructure
	}
	var stack []*level
	var spare []*level // popped levels, reused: a cursor is 2 KiB
	push := func(c *Bucket, name string) {
		var l *level
		if n := len(spare); n > 0 {
			l, spare = spare[n-1], spare[:n-1]
		} else {
			l = new(level)
		}
		l.b, l.bs = c, BucketStructure{Name: name}
		l.c.Reset(&c.tree)
		l.c.SetStrict(c.tx.r.verify)
		l.c.Map(c.tx.r.data, c.tx.r.pageSize)
		stack = append(stack, l)
	}
	// seen holds the committed trees walked: a header that reaches one
	// again is a damaged file, whose walk would not end. The tree a
	// handle has changed in this transaction is still the one its orig
	// names.
	seen := map[page.ID]bool{}
	fresh := func(c *Bucket) bool {
		if c.orig.Inline || c.orig.Root == 0 {
			return true
		}
		if seen[c.orig.Root] {
			_ = c.wrap(sharedTree(c.orig.Root))
			return false
		}
		seen[c.orig.Root] = true
		return true
	}
	fresh(b)
	push(b, "root")
	first, broken := true, false
	for {
		l := stack[len(stack)-1]
		var k []byte
		var flags uint32
		switch {
		case broken: // unwind, reading nothing more
		case first:
			k, _, flags = l.c.First()
		default:
			k, _, flags = l.c.Next()
		}
		first = false
		if k != nil {
			if flags&page.LeafBucket == 0 {
				l.bs.KeyN++
				continue
			}
			// NB: nil for a header that does not decode: Bucket has
			// failed the transaction then.
			c := l.b.Bucket(k)
			if broken = c == nil || !fresh(c); !broken {
				push(c, string(k))
				first = true
			}
			continue
		}
		if err := l.c.Err(); err != nil {
			_ = l.b.wrap(err)
			broken = true
		}
		stack = stack[:len(stack)-1]
		spare = append(spare, l)
		if len(stack) == 0 {
			return l.bs
		}
		up := stack[len(stack)-1]
		up.bs.Children = append(up.bs.Children, l.bs)
		l.bs = BucketStructure{}
	}
}
