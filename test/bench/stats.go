package main

import (
	"fmt"
	"slices"

	"github.com/oci-connector/oci-connector/test/harness"
)

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func percentile(sorted []float64, p int) float64 {
	return sorted[(len(sorted)-1)*p/100]
}

func report(name string, value float64) {
	fmt.Printf("BENCH %s %.3f\n", name, value)
}

func check(r *harness.Runner, err error) {
	if err != nil {
		r.Fatalf("%v", err)
	}
}
