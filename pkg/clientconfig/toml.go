package clientconfig

import (
	"fmt"
	"sort"
	"strings"
)

// tomlFile writes the few TOML shapes these files need. Values were
// checked by Proxy.validate, so a quoted string needs no escapes beyond
// what validate already refused.
type tomlFile struct{ strings.Builder }

func (f *tomlFile) comment(text string) {
	for _, line := range strings.Split(text, "\n") {
		fmt.Fprintf(f, "# %s\n", line)
	}
}

func (f *tomlFile) line(format string, args ...any) {
	fmt.Fprintf(f, format+"\n", args...)
}

// sortedEndpoints orders endpoints by host, so files do not depend on the
// order names were found in.
func sortedEndpoints(in []Endpoint) []Endpoint {
	out := append([]Endpoint(nil), in...)
	sort.Slice(out, func(i, j int) bool { return out[i].Host < out[j].Host })
	return out
}
