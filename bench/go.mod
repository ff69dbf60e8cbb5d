module github.com/foliodb/folio/bench

go 1.26.8

replace github.com/foliodb/folio => ../

require (
	github.com/PowerDNS/lmdb-go v1.9.3
	github.com/foliodb/folio v0.0.0-00010101000000-000000000000
	go.etcd.io/bbolt v1.4.3
	golang.org/x/sys v0.49.0
)

require (
	github.com/google/btree v1.1.3 // indirect
	github.com/klauspost/compress v1.20.3 // indirect
)
