package main

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// Clean data is stored as it came; data with a NUL (raw or escaped) or
// invalid UTF-8 is stored without them; data that is not JSON becomes a
// JSON string of its text.
func TestCleanJSON(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`{"b":1,"a":"x <&> y"}`, `{"b":1,"a":"x <&> y"}`},
		{`{"a":"x\u0000y"}`, `{"a":"xy"}`},
		{"{\"a\":\"x\xffy\"}", "{\"a\":\"x\uFFFDy\"}"},
		{"not json\x00", `"not json"`},
	} {
		got := string(cleanJSON([]byte(c.in)))
		if got != c.want {
			t.Errorf("cleanJSON(%q) = %q, want %q", c.in, got, c.want)
		}
		if strings.Contains(got, `\u0000`) || strings.ContainsRune(got, 0) || !utf8.ValidString(got) {
			t.Errorf("cleanJSON(%q) = %q still holds what PostgreSQL refuses", c.in, got)
		}
	}
}
