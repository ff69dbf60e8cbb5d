// Command bench runs the same workloads on folio, bbolt and LMDB, each
// engine in processes of its own, and prints one table of every figure
// with its ratio to bbolt. See README.md.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

type options struct {
	engines   string
	workloads string
	runs      int
	dir       string
	json      bool
	jsonFile  string
	profDir   string
	recache   bool
	config
}

func main() {
	var o options
	c := &o.config
	flag.StringVar(&o.engines, "engines", strings.Join(engineNames(), ","), "engines to run, comma-separated")
	flag.StringVar(&o.workloads, "workloads", "W1,W2,W3,W4,W5,W6,W7", "workloads to run, comma-separated")
	flag.IntVar(&o.runs, "runs", 1, "runs; the table shows the median of each figure")
	flag.StringVar(&o.dir, "dir", "", "where to make the temporary data directory (default: the OS temp dir, unless it is in memory)")
	flag.BoolVar(&o.json, "json", false, "print JSON (every run and the medians) instead of the table")
	flag.StringVar(&o.jsonFile, "json-file", "", "also write the JSON to this file")
	flag.StringVar(&o.profDir, "cpuprofile-dir", "", "write a CPU profile of each timed workload here (ENGINE-WORKLOAD-RUN.pprof)")
	flag.BoolVar(&o.recache, "recache", false, "before W3, W4 and W7, drop the data file from the page cache and read it back, so every engine reads from a cache filled the same way (see README)")
	flag.IntVar(&c.keys, "keys", 1_000_000, "keys in the data set")
	flag.IntVar(&c.valSize, "value-size", 100, "bytes per value")
	flag.IntVar(&c.seqTx, "seq-tx", 10_000, "W1: keys per transaction")
	flag.IntVar(&c.randTx, "rand-tx", 1_000, "W2: keys per transaction")
	flag.StringVar(&c.dataSet, "data-set", "W2", "the load whose database W3-W7 read and write: W2 (random order, the default) or W1 (ascending, in bigger transactions)")
	flag.IntVar(&c.reads, "reads", 0, "W3: gets per measurement (default: keys, at least 100,000)")
	flag.IntVar(&c.getTx, "get-tx", 1_000, "W3: gets per read transaction in the batched case")
	flag.IntVar(&c.commits, "commits", 2_000, "W5, W6: transactions")
	flag.IntVar(&c.writers, "writers", 16, "W6: goroutines")
	flag.DurationVar(&c.w7, "w7", 5*time.Second, "W7: how long to write while reading")
	flag.DurationVar(&c.minScan, "min-scan", time.Second, "W4: scan for at least this long")
	// Child mode: run one workload on one engine and print its metrics.
	child := flag.Bool("child", false, "internal: run one workload in this process")
	engine := flag.String("engine", "", "internal: the child's engine")
	wl := flag.String("workload", "", "internal: the child's workload (or load: W2 untimed)")
	path := flag.String("path", "", "internal: the child's database file")
	flag.StringVar(&c.cpuprofile, "cpuprofile", "", "internal: the child's CPU profile")
	flag.Parse()
	if c.reads == 0 {
		c.reads = max(c.keys, 100_000)
	}
	if *child {
		if err := runChild(*engine, *wl, *path, c); err != nil {
			fmt.Fprintf(os.Stderr, "bench: %s %s: %v\n", *engine, *wl, err)
			os.Exit(1)
		}
		return
	}
	if _, err := drive(&o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// runChild opens the engine's database, runs one workload and prints its
// metrics as JSON on stdout.
func runChild(engine, wl, path string, c *config) error {
	e, err := newEngine(engine)
	if err != nil {
		return err
	}
	w, ok := findWorkload(wl)
	if wl == "load" {
		w, ok = findWorkload(c.dataSet)
	}
	if !ok {
		return fmt.Errorf("unknown workload %q", wl)
	}
	if err := e.Open(path); err != nil {
		return err
	}
	m, err := w.run(e, c)
	// What is resident now, before Close unmaps the file, by kind: the
	// mapped file (the page cache pages this process touched, the kernel's
	// fault-around included) and anonymous memory (mostly the Go heap).
	// Peak RSS is the peak of their sum.
	if anon, file, ok := rssNow(); ok && err == nil {
		key := strings.ToLower(wl)
		m[key+".end_anon_mb"] = float64(anon) / (1 << 20)
		m[key+".end_file_mb"] = float64(file) / (1 << 20)
	}
	// Close is timed apart from the workload: in WAL mode it is the final
	// checkpoint (the file synced, the meta written), work a load defers.
	t0 := time.Now()
	if cerr := e.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	m[strings.ToLower(wl)+".close_ms"] = float64(time.Since(t0)) / float64(time.Millisecond)
	// The file at rest: an engine may give back space it grew ahead of
	// its data when it closes (folio does; bbolt and LMDB keep it).
	if _, loaded := m[strings.ToLower(wl)+".file_mb"]; loaded {
		if fi, err := os.Stat(path); err == nil {
			m[strings.ToLower(wl)+".closed_file_mb"] = float64(fi.Size()) / (1 << 20)
		}
	}
	return json.NewEncoder(os.Stdout).Encode(m)
}

// result is everything one invocation measured.
type result struct {
	Command   string                       `json:"command"`
	Date      string                       `json:"date"`
	Machine   string                       `json:"machine"`
	Load      string                       `json:"load"`
	Storage   string                       `json:"storage"`
	Sync      syncProbe                    `json:"fdatasync"`
	Engines   []string                     `json:"engines"`
	Workloads []string                     `json:"workloads"`
	Runs      []map[string]metrics         `json:"runs"`   // run -> engine -> figures
	Median    map[string]metrics           `json:"median"` // engine -> figures
	Config    map[string]any               `json:"config"`
	Errors    map[string]map[string]string `json:"errors,omitempty"`
}

func drive(o *options) (*result, error) {
	engs := splitList(o.engines)
	for _, name := range engs {
		if _, ok := engines[name]; !ok {
			return nil, fmt.Errorf("unknown engine %q (built: %v)", name, engineNames())
		}
	}
	if o.dataSet != "W1" && o.dataSet != "W2" {
		return nil, fmt.Errorf("--data-set %q: want W1 or W2", o.dataSet)
	}
	var wls []workload
	for _, name := range splitList(o.workloads) {
		w, ok := findWorkload(strings.ToUpper(name))
		if !ok {
			return nil, fmt.Errorf("unknown workload %q (W1..W7)", name)
		}
		wls = append(wls, w)
	}
	// Keep the workloads in their defined order: W3..W7 use the data set
	// that W1 or W2 (--data-set) loads.
	var ordered []workload
	needData, haveData := false, false
	for _, w := range workloads {
		for _, x := range wls {
			if x.name == w.name {
				ordered = append(ordered, w)
				needData = needData || !w.fresh
				haveData = haveData || w.name == o.dataSet
			}
		}
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	base, storage, err := dataDir(o.dir)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(base, "folio-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()

	res := &result{
		Command: strings.Join(append([]string{"bench"}, os.Args[1:]...), " "),
		Date:    time.Now().UTC().Format("2006-01-02 15:04 MST"),
		Machine: machine(),
		Storage: storage,
		Engines: engs,
		Median:  map[string]metrics{},
		Config: map[string]any{
			"keys": o.keys, "value_size": o.valSize, "seq_tx": o.seqTx, "rand_tx": o.randTx,
			"reads": o.reads, "get_tx": o.getTx, "commits": o.commits, "writers": o.writers,
			"w7": o.w7.String(), "runs": o.runs, "recache": o.recache, "data_set": o.dataSet,
		},
	}
	for _, w := range ordered {
		res.Workloads = append(res.Workloads, w.name)
	}
	loadBefore := loadAvg()
	res.Sync, err = probeSync(tmp)
	if err != nil {
		return nil, err
	}
	logf := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
	}
	var failures []string
	for run := 1; run <= o.runs; run++ {
		byEngine := map[string]metrics{}
		for _, eng := range engs {
			m := metrics{}
			byEngine[eng] = m
			edir := filepath.Join(tmp, eng)
			if err := os.MkdirAll(edir, 0o755); err != nil {
				return nil, err
			}
			data := filepath.Join(edir, "data.db")
			childRun := func(wl, path string) (metrics, error) {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				prof := ""
				if o.profDir != "" && wl != "load" {
					prof = filepath.Join(o.profDir, fmt.Sprintf("%s-%s-%d.pprof", eng, wl, run))
				}
				return spawn(ctx, self, o, eng, wl, path, prof)
			}
			failed := false
			if needData && !haveData {
				logf("run %d/%d %s: loading the data set (%s, untimed)", run, o.runs, eng, o.dataSet)
				if _, err := childRun("load", data); err != nil {
					failures = append(failures, fmt.Sprintf("run %d %s load: %v", run, eng, err))
					failed = true
				}
			}
			for _, w := range ordered {
				if failed && !w.fresh {
					continue
				}
				path := data
				if w.fresh && w.name != o.dataSet {
					path = filepath.Join(edir, strings.ToLower(w.name)+".db")
				}
				if o.recache && (w.name == "W3" || w.name == "W4" || w.name == "W7") {
					if err := recache(path); err != nil {
						return nil, fmt.Errorf("recache %s: %w", path, err)
					}
				}
				logf("run %d/%d %s %s (%s)", run, o.runs, eng, w.name, w.about)
				wm, err := childRun(w.name, path)
				if err != nil {
					failures = append(failures, fmt.Sprintf("run %d %s %s: %v", run, eng, w.name, err))
					if w.name == o.dataSet {
						failed = true
					}
					continue
				}
				for k, v := range wm {
					m[k] = v
				}
				if path != data {
					removeDB(path)
				}
			}
			if err := os.RemoveAll(edir); err != nil {
				return nil, err
			}
		}
		res.Runs = append(res.Runs, byEngine)
	}
	for _, eng := range engs {
		res.Median[eng] = medians(res.Runs, eng)
	}
	res.Load = fmt.Sprintf("%s at the start, %s at the end", loadBefore, loadAvg())
	if o.jsonFile != "" {
		b, err := json.MarshalIndent(res, "", "  ")
		if err == nil {
			err = os.WriteFile(o.jsonFile, append(b, '\n'), 0o644)
		}
		if err != nil {
			return nil, err
		}
	}
	if o.json {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return nil, err
		}
	} else {
		printReport(os.Stdout, res)
	}
	if len(failures) > 0 {
		return res, fmt.Errorf("%d failures:\n  %s", len(failures), strings.Join(failures, "\n  "))
	}
	return res, nil
}

// spawn runs one child process and returns its metrics, plus its peak RSS
// as the kernel accounted it (wait4's ru_maxrss: the child's VmHWM).
func spawn(ctx context.Context, self string, o *options, eng, wl, path, prof string) (metrics, error) {
	c := &o.config
	args := []string{
		"-child", "-engine", eng, "-workload", wl, "-path", path,
		"-keys", fmt.Sprint(c.keys), "-value-size", fmt.Sprint(c.valSize),
		"-seq-tx", fmt.Sprint(c.seqTx), "-rand-tx", fmt.Sprint(c.randTx), "-data-set", c.dataSet,
		"-reads", fmt.Sprint(c.reads), "-get-tx", fmt.Sprint(c.getTx),
		"-commits", fmt.Sprint(c.commits), "-writers", fmt.Sprint(c.writers),
		"-w7", c.w7.String(), "-min-scan", c.minScan.String(),
	}
	if prof != "" {
		args = append(args, "-cpuprofile", prof)
	}
	cmd := exec.CommandContext(ctx, self, args...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, err
	}
	var m metrics
	if err := json.Unmarshal(out.Bytes(), &m); err != nil {
		return nil, fmt.Errorf("child output %q: %w", out.String(), err)
	}
	if rss, ok := maxRSS(cmd.ProcessState); ok && wl != "load" {
		m[strings.ToLower(wl)+".rss_mb"] = float64(rss) / (1 << 20)
	}
	return m, nil
}

// removeDB removes a database file and the files engines keep beside it.
func removeDB(path string) {
	// "-lock": LMDB's lock file; ".wal": folio's write-ahead log directory.
	for _, p := range []string{path, path + "-lock", path + ".wal"} {
		if err := os.RemoveAll(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			fmt.Fprintln(os.Stderr, "bench:", err)
		}
	}
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
