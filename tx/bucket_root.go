package tx

import "github.com/foliodb/folio/page"

// Root returns the page of the bucket's tree as committed: as bbolt's,
// 0 for a bucket stored inline (an empty one too) or a nil bucket, and in
// a write transaction the root it began with until the commit writes the
// tree anew.
func (b *Bucket) Root() page.ID {
	if b == nil {
		return 0
	}
	root, _ := b.tree.Root()
	return root
}
