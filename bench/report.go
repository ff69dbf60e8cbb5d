package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// row is one line of the table: a figure every engine reports (unless
// some is set).
type row struct {
	key      string // metric name, as the workloads report it
	workload string
	label    string
	unit     string // rate, mb, ms, us, x
	higher   bool   // whether a higher figure is better
	some     bool   // only some engines report it (the others show "-")
}

var rows = []row{
	{"w1.keys_s", "W1 sequential load", "keys/s", "rate", true, false},
	{"w1.file_mb", "", "file MiB", "mb", false, false},
	{"w1.closed_file_mb", "", "file MiB after Close", "mb", false, false},
	{"w1.used_mb", "", "used MiB (high water)", "mb", false, false},
	{"w1.log_mb", "", "log MiB (WAL segments)", "mb", false, true},
	{"w1.close_ms", "", "Close ms (WAL: checkpoint)", "ms", false, false},
	{"w1.rss_mb", "", "peak RSS MiB", "mb", false, false},
	{"w2.keys_s", "W2 random load", "keys/s", "rate", true, false},
	{"w2.file_mb", "", "file MiB", "mb", false, false},
	{"w2.closed_file_mb", "", "file MiB after Close", "mb", false, false},
	{"w2.used_mb", "", "used MiB (high water)", "mb", false, false},
	{"w2.log_mb", "", "log MiB (WAL segments)", "mb", false, true},
	{"w2.close_ms", "", "Close ms (WAL: checkpoint)", "ms", false, false},
	{"w2.rss_mb", "", "peak RSS MiB", "mb", false, false},
	{"w3.get1_s", "W3 random gets", "gets/s, 1 per txn, 1 goroutine", "rate", true, false},
	{"w3.get1_2g_s", "", "gets/s, 1 per txn, 2 goroutines", "rate", true, false},
	{"w3.scale_2g", "", "2 goroutines / 1 goroutine", "x", true, false},
	{"w3.gettx_s", "", "gets/s, 1,000 per txn", "rate", true, false},
	{"w3.rss_mb", "", "peak RSS MiB", "mb", false, false},
	{"w4.keys_s", "W4 cursor scan", "keys/s", "rate", true, false},
	{"w4.rss_mb", "", "peak RSS MiB", "mb", false, false},
	{"w5.txn_s", "W5 durable commits", "txn/s", "rate", true, false},
	{"w5.p50_ms", "", "p50 ms", "ms", false, false},
	{"w5.p99_ms", "", "p99 ms", "ms", false, false},
	{"w5.rss_mb", "", "peak RSS MiB", "mb", false, false},
	{"w6.txn_s", "W6 concurrent commits", "txn/s", "rate", true, false},
	{"w6.p50_ms", "", "p50 ms", "ms", false, false},
	{"w6.p99_ms", "", "p99 ms", "ms", false, false},
	{"w6.rss_mb", "", "peak RSS MiB", "mb", false, false},
	{"w7.reads_s", "W7 reads during writes", "reads/s", "rate", true, false},
	{"w7.read_p99_us", "", "read p99 µs", "us", false, false},
	{"w7.writes_s", "", "writes/s", "rate", true, false},
	{"w7.rss_mb", "", "peak RSS MiB", "mb", false, false},
}

// medians takes, for each figure of eng, the median over the runs that
// have it.
func medians(runs []map[string]metrics, eng string) metrics {
	all := map[string][]float64{}
	for _, r := range runs {
		for k, v := range r[eng] {
			all[k] = append(all[k], v)
		}
	}
	out := metrics{}
	for k, vs := range all {
		sort.Float64s(vs)
		if n := len(vs); n%2 == 1 {
			out[k] = vs[n/2]
		} else {
			out[k] = (vs[n/2-1] + vs[n/2]) / 2
		}
	}
	return out
}

func format(v float64, unit string) string {
	switch unit {
	case "rate":
		switch {
		case v >= 1e6:
			return fmt.Sprintf("%.3gM", v/1e6)
		case v >= 1e3:
			return fmt.Sprintf("%.3gk", v/1e3)
		}
		return fmt.Sprintf("%.3g", v)
	case "mb":
		return fmt.Sprintf("%.1f", v)
	case "x":
		return fmt.Sprintf("%.2f", v)
	}
	if v >= 100 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.3g", v)
}

// printReport writes the header and the table in Markdown, so the README
// can show it as printed.
func printReport(w io.Writer, r *result) {
	fmt.Fprintf(w, "command: %s\n", r.Command)
	fmt.Fprintf(w, "date:    %s\n", r.Date)
	fmt.Fprintf(w, "machine: %s\n", r.Machine)
	fmt.Fprintf(w, "data:    %s\n", r.Storage)
	fmt.Fprintf(w, "load:    %s\n", r.Load)
	fmt.Fprintf(w, "fdatasync of 4 KiB: p50 %.3f ms, %.0f/s (a two-sync commit is bounded near %.0f/s, a one-sync WAL commit near %.0f/s)\n",
		r.Sync.P50ms, r.Sync.PerSec, r.Sync.PerSec/2, r.Sync.PerSec)
	fmt.Fprintf(w, "figures: median of %d run(s); (x) is the ratio to bbolt, higher is better for rates, lower for sizes, latencies and RSS\n\n", len(r.Runs))

	header := []string{"workload", "metric"}
	header = append(header, r.Engines...)
	table := [][]string{header}
	want := map[string]bool{}
	for _, wl := range r.Workloads {
		want[strings.ToLower(wl)] = true
	}
	ref := r.Median["bbolt"]
	for _, rw := range rows {
		if !want[strings.SplitN(rw.key, ".", 2)[0]] {
			continue
		}
		line := []string{rw.workload, rw.label}
		for _, eng := range r.Engines {
			v, ok := r.Median[eng][rw.key]
			cell := "-"
			if ok {
				cell = format(v, rw.unit)
				if b, ok := ref[rw.key]; ok && b != 0 && rw.unit != "x" {
					cell += fmt.Sprintf(" (%.2fx)", v/b)
				}
			}
			line = append(line, cell)
		}
		table = append(table, line)
	}
	writeMarkdown(w, table)
}

func writeMarkdown(w io.Writer, t [][]string) {
	widths := make([]int, len(t[0]))
	for _, line := range t {
		for i, c := range line {
			widths[i] = max(widths[i], len([]rune(c)))
		}
	}
	pad := func(s string, n int, right bool) string {
		gap := strings.Repeat(" ", n-len([]rune(s)))
		if right {
			return gap + s
		}
		return s + gap
	}
	for li, line := range t {
		var b strings.Builder
		b.WriteString("|")
		for i, c := range line {
			b.WriteString(" " + pad(c, widths[i], i >= 2 && li > 0) + " |")
		}
		fmt.Fprintln(w, b.String())
		if li == 0 {
			b.Reset()
			b.WriteString("|")
			for i := range line {
				dash := strings.Repeat("-", widths[i])
				if i >= 2 {
					dash = dash[:len(dash)-1] + ":"
				}
				b.WriteString(" " + dash + " |")
			}
			fmt.Fprintln(w, b.String())
		}
	}
}
