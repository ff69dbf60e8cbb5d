package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// dataDir picks where the temporary data directory goes: dir if given,
// else the OS temp dir unless it is in memory (tmpfs would hide the cost
// of syncs), else ./bench-tmp. It returns the directory and a line
// describing the filesystem under it.
func dataDir(dir string) (string, string, error) {
	if dir == "" {
		dir = os.TempDir()
		if inMemory(dir) {
			dir = "bench-tmp"
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", "", err
	}
	if inMemory(abs) {
		return "", "", fmt.Errorf("%s is on an in-memory filesystem: syncs would cost nothing; give --dir on a disk", abs)
	}
	return abs, describeFS(abs), nil
}

func inMemory(dir string) bool {
	var st unix.Statfs_t
	if unix.Statfs(dir, &st) != nil {
		return false
	}
	return st.Type == unix.TMPFS_MAGIC || st.Type == unix.RAMFS_MAGIC
}

// describeFS names the mount that holds dir, from /proc/self/mounts.
func describeFS(dir string) string {
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return dir
	}
	best, desc := "", dir
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		mnt := f[1]
		if (dir == mnt || strings.HasPrefix(dir, strings.TrimSuffix(mnt, "/")+"/")) && len(mnt) > len(best) {
			best, desc = mnt, fmt.Sprintf("%s (%s %s on %s)", dir, f[0], f[2], mnt)
		}
	}
	return desc
}

// machine describes the CPU, kernel and Go version.
func machine() string {
	model := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	var u unix.Utsname
	kernel := ""
	if unix.Uname(&u) == nil {
		kernel = unix.ByteSliceToString(u.Release[:])
	}
	return fmt.Sprintf("%d CPUs (%s), Linux %s, %s %s/%s, GOMAXPROCS %d",
		runtime.NumCPU(), model, kernel, runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0))
}

// syncProbe is what one 4 KiB pwrite + fdatasync costs in the data
// directory: the floor under a durable commit.
type syncProbe struct {
	P50ms  float64 `json:"p50_ms"`
	PerSec float64 `json:"per_s"`
}

func probeSync(dir string) (syncProbe, error) {
	f, err := os.CreateTemp(dir, "sync-probe-")
	if err != nil {
		return syncProbe{}, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, 4096)
	// Allocate and sync the blocks first, so the probe overwrites in place
	// as a commit mostly does.
	const blocks = 64
	for i := 0; i < blocks; i++ {
		if _, err := f.WriteAt(buf, int64(i)*4096); err != nil {
			return syncProbe{}, err
		}
	}
	if err := f.Sync(); err != nil {
		return syncProbe{}, err
	}
	const n = 300
	ds := make([]time.Duration, n)
	t0 := time.Now()
	for i := range n {
		buf[0] = byte(i)
		t := time.Now()
		if _, err := f.WriteAt(buf, int64(i%blocks)*4096); err != nil {
			return syncProbe{}, err
		}
		if err := unix.Fdatasync(int(f.Fd())); err != nil {
			return syncProbe{}, err
		}
		ds[i] = time.Since(t)
	}
	total := time.Since(t0)
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return syncProbe{P50ms: ms(ds[n/2]), PerSec: n / total.Seconds()}, nil
}

// maxRSS is the peak resident set of a finished child, in bytes.
func maxRSS(ps *os.ProcessState) (int64, bool) {
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok || ru == nil {
		return 0, false
	}
	return ru.Maxrss * 1024, true // Linux reports KiB
}

// loadAvg is the 1, 5 and 15 minute load averages: other work on the
// machine shows in every figure, so the table says how busy it was.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// rssNow reads this process's resident anonymous and file-backed bytes
// from /proc/self/status.
func rssNow() (anon, file int64, ok bool) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0, false
	}
	found := 0
	for _, line := range strings.Split(string(b), "\n") {
		k, v, cut := strings.Cut(line, ":")
		if !cut || (k != "RssAnon" && k != "RssFile") {
			continue
		}
		var kb int64
		if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kb); err != nil {
			return 0, 0, false
		}
		if k == "RssAnon" {
			anon = kb << 10
		} else {
			file = kb << 10
		}
		found++
	}
	return anon, file, found == 2
}

// recache drops path from the page cache and reads it back sequentially,
// so the read workloads find it cached the way a database opened after a
// reboot would be, whatever pages and folios its load happened to leave.
// Measured: a file loaded in folio's WAL mode read 0.7x as fast as the
// same tree loaded directly until it was read back this way, after which
// both ran at the same speed (README, "What the page cache does").
func recache(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	// DONTNEED drops only clean pages: sync first. The engines closed
	// the file durably, so this normally writes nothing.
	if err := f.Sync(); err != nil {
		return err
	}
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		return os.NewSyscallError("fadvise", err)
	}
	buf := make([]byte, 1<<20)
	for {
		_, err := f.Read(buf)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
