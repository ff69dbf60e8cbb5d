//go:build !cgo

package main

// Without cgo there is no LMDB: lmdb-go compiles LMDB's C sources. The
// driver lists the engines it was built with, and --engines lmdb fails
// with "unknown engine".
