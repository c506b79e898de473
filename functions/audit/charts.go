package main

import (
	"fmt"
	"time"
)

// The page's charts: the /stats figures of the window as horizontal bars,
// drawn as inline SVG on the server (no script).
const (
	chartBars      = 10  // the largest groups shown
	chartBarWidth  = 300 // pixels for the largest
	chartRowHeight = 20
	chartLabelArea = 260
)

// chart is one figure of the page.
type chart struct {
	ID, Title string
	// Fill is the bars' colour.
	Fill string
	// Unit follows each bar's number ("%" for a ratio).
	Unit   string
	Bars   []bar
	Height int
}

// bar is one group, laid out.
type bar struct {
	Label          string
	N              int64
	Y, TextY       int
	Width, NumberX int
}

// chartsOf lays out the statistics of a window.
func chartsOf(st statistics, window time.Duration) []chart {
	pulls := func(c []count) []labelled {
		out := make([]labelled, len(c))
		for i, x := range c {
			out[i] = labelled{x.Key, x.Pulls}
		}
		return out
	}
	denials := make([]labelled, len(st.DeniedPerReason))
	for i, x := range st.DeniedPerReason {
		denials[i] = labelled{x.Key, x.Count}
	}
	over := " over " + windowText(window)
	charts := []chart{
		layout("pulls-per-image", "Pulls per image"+over, "#3465a4", pulls(st.PerImage)),
		layout("pulls-per-namespace", "Pulls per namespace"+over, "#3465a4", pulls(st.PerNamespace)),
		layout("denials-per-reason", "Refusals per reason"+over, "#a40000", denials),
	}
	if len(st.CachePerConnector) > 0 {
		ratios := make([]labelled, len(st.CachePerConnector))
		for i, c := range st.CachePerConnector {
			ratios[i] = labelled{fmt.Sprintf("%s (%d of %d)", c.Key, c.Hit+c.Stale, c.Hit+c.Miss+c.Stale), c.HitRatio()}
		}
		ratio := layout("cache-hit-ratio", "Pulls served from the cache"+over, "#4e9a06", ratios)
		// The bars are percentages: full width is all of a Connector's pulls.
		ratio.Unit = "%"
		for i := range ratio.Bars {
			w := max(int(int64(chartBarWidth)*ratio.Bars[i].N/100), 1)
			ratio.Bars[i].Width, ratio.Bars[i].NumberX = w, chartLabelArea+w+6
		}
		charts = append(charts, ratio)
	}
	return charts
}

// windowText says a window the way people do: 24h, 90m.
func windowText(d time.Duration) string {
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d >= time.Minute && d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}

type labelled struct {
	label string
	n     int64
}

func layout(id, title, fill string, groups []labelled) chart {
	c := chart{ID: id, Title: title, Fill: fill}
	groups = groups[:min(len(groups), chartBars)]
	var most int64
	for _, g := range groups {
		most = max(most, g.n)
	}
	for i, g := range groups {
		label := g.label
		if label == "" {
			label = "(none)"
		}
		w := int(int64(chartBarWidth) * g.n / max(most, 1))
		c.Bars = append(c.Bars, bar{
			Label: label, N: g.n, Y: i * chartRowHeight, TextY: i*chartRowHeight + 14,
			Width: max(w, 1), NumberX: chartLabelArea + max(w, 1) + 6,
		})
	}
	c.Height = max(len(c.Bars), 1) * chartRowHeight
	return c
}
