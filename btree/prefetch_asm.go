//go:build amd64 || arm64

package btree

// prefetch asks the CPU to load lines cache lines from p on without
// waiting for them. It never faults, so p may point past what a caller
// will read; the bytes are not read by Go code here.
//
//go:noescape
func prefetch(p *byte, lines int)
