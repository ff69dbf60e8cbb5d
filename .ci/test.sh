#!/usr/bin/env bash
# folio's whole test run: the README's test command, and what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."

# The LMDB interoperability test needs Debian's lmdb-utils (mdb_dump, mdb_load).
if ! command -v mdb_load >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "== installing lmdb-utils"
  (apt-get update -qq && apt-get install -y -qq lmdb-utils) >/dev/null 2>&1 || echo "lmdb-utils could not be installed"
fi

# go test -race needs cgo, so a C compiler: on Linux Go's race runtime is
# linked by the host toolchain, and without one the go command turns cgo off.
if [ "$(go env CGO_ENABLED)" != 1 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "== installing gcc (go test -race needs cgo)"
  (apt-get update -qq && apt-get install -y -qq gcc libc6-dev) >/dev/null 2>&1 || echo "gcc could not be installed"
fi
if [ "$(go env CGO_ENABLED)" != 1 ]; then
  echo "go test -race needs cgo and a C compiler (gcc, or CC=...); none found" >&2
  exit 1
fi

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
go vet ./...
go vet -tags invariants ./...

echo "== import layering"
go test -count=1 -run TestLayering .

echo "== go test -race (seed corpora of every fuzz target included)"
go test -race -count=1 -timeout 12m ./...

echo "== allocation checks (need a build without -race)"
go test -count=1 -run 'TestReadPathAllocs|TestViewBucketGetAllocs|TestViewBucketHandleBytes|TestFileStorageWriteAtAllocs' .
go test -count=1 -run 'TestBuildFrameAllocs' ./wal

if [ -d bench ]; then
  echo "== bench module: vet, and its tests (tiny runs of every engine and workload)"
  (cd bench && go vet ./... && go test -count=1 ./...)
fi
