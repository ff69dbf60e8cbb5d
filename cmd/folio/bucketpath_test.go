package main

import (
	"bytes"
	"testing"
)

func TestParsePath(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string // nil: an error
	}{
		{"a", []string{"a"}},
		{"a/b/c", []string{"a", "b", "c"}},
		{`a\/b/c`, []string{"a/b", "c"}},
		{`a\\/b`, []string{`a\`, "b"}},
		{`a\\\/b`, []string{`a\/b`}},
		{`\x00\xffz`, []string{"\x00\xffz"}},
		{"héllo wörld/ü", []string{"héllo wörld", "ü"}},
		{"", nil},
		{"/", nil},
		{"/a", nil},
		{"a/", nil},
		{"a//b", nil},
		{`a\`, nil},
		{`a\q`, nil},
		{`a\x`, nil},
		{`a\x4`, nil},
		{`a\xzz`, nil},
	} {
		got, err := parsePath(tc.in)
		if tc.want == nil {
			if err == nil {
				t.Errorf("parsePath(%q) = %q, want an error", tc.in, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("parsePath(%q): %v", tc.in, err)
			continue
		}
		if len(got) != len(tc.want) {
			t.Errorf("parsePath(%q) = %q, want %q", tc.in, got, tc.want)
			continue
		}
		for i := range got {
			if string(got[i]) != tc.want[i] {
				t.Errorf("parsePath(%q) = %q, want %q", tc.in, got, tc.want)
			}
		}
	}
}

func TestFormatPath(t *testing.T) {
	for _, tc := range []struct {
		names []string
		want  string
	}{
		{[]string{"a", "b"}, "a/b"},
		{[]string{"a/b", `c\d`}, `a\/b/c\\d`},
		{[]string{"\x00\xff", "tab\there"}, `\x00\xff/tab\x09here`},
		{[]string{"héllo"}, "héllo"},
	} {
		var names [][]byte
		for _, n := range tc.names {
			names = append(names, []byte(n))
		}
		got := formatPath(names)
		if got != tc.want {
			t.Errorf("formatPath(%q) = %q, want %q", tc.names, got, tc.want)
		}
		back, err := parsePath(got)
		if err != nil || !bytes.Equal(bytes.Join(back, []byte{0}), bytes.Join(names, []byte{0})) {
			t.Errorf("parsePath(formatPath(%q)) = %q, %v", tc.names, back, err)
		}
	}
}

// FuzzPathRoundTrip: every path formatPath prints parses back to the
// same names, and parsePath never panics.
func FuzzPathRoundTrip(f *testing.F) {
	f.Add([]byte("a/b"), []byte(`x\y`))
	f.Add([]byte{0, '/', 0xff}, []byte("\\x"))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		_, _ = parsePath(string(a))
		if len(a) == 0 || len(b) == 0 {
			return
		}
		s := formatPath([][]byte{a, b})
		got, err := parsePath(s)
		if err != nil || len(got) != 2 || !bytes.Equal(got[0], a) || !bytes.Equal(got[1], b) {
			t.Fatalf("%q -> %q -> %q, %v", [][]byte{a, b}, s, got, err)
		}
	})
}
