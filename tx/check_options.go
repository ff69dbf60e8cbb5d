package tx

import (
	"encoding/hex"
	"fmt"
)

// CheckOption changes what Tx.Check checks (WithPageId) or how its
// problems name keys (WithKVStringer), as bbolt's options do.
type CheckOption func(*checkConfig)

type checkConfig struct {
	// key formats keys in problems; nil: quoted (%q), folio's default.
	key func([]byte) string
	// pageID, if not 0, is the page whose tree alone is checked.
	pageID uint64
}

// keyString is key as Check's problems name it.
func (c checkConfig) keyString(key []byte) string {
	if c.key != nil {
		return c.key(key)
	}
	return fmt.Sprintf("%q", key)
}

// KVStringer formats keys and values for Check's problems (bbolt's).
type KVStringer interface {
	KeyToString([]byte) string
	ValueToString([]byte) string
}

// WithKVStringer makes Check name keys in its problems with
// s.KeyToString. Without it, or with a nil s, keys are quoted (%q) where
// bbolt's default writes them in hex (HexKVStringer gives bbolt's).
func WithKVStringer(s KVStringer) CheckOption {
	return func(c *checkConfig) {
		c.key = nil
		if s != nil {
			c.key = s.KeyToString
		}
	}
}

// WithPageId makes Check check only the tree under page id, as bbolt's:
// its pages' checksums, their structure and key order, and the buckets
// under it, but not the accounting of the file's pages. An id out of
// [2, high) or a page that is no branch or leaf in use is a problem
// (ErrInvalidOptions); 0 checks the whole file.
//
// NB: bbolt's name (Id, not ID), so that programs compile unchanged.
func WithPageId(id uint64) CheckOption {
	return func(c *checkConfig) { c.pageID = id }
}

// HexKVStringer writes keys and values in hex, as bbolt's Check does by
// default.
func HexKVStringer() KVStringer { return hexKVStringer{} }

type hexKVStringer struct{}

func (hexKVStringer) KeyToString(k []byte) string   { return hex.EncodeToString(k) }
func (hexKVStringer) ValueToString(v []byte) string { return hex.EncodeToString(v) }
