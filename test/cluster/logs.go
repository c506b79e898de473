package cluster

import (
	"bufio"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// ContainerLog is what a container of the pods of namespace whose names
// begin with podPrefix has written, read from the kubelet's log files on
// the node (kubectl logs would need the kubelet's serving certificate):
// every container instance's, oldest file first, the CRI prefix (time,
// stream, tag) taken off each line. A deleted pod's logs go with it.
func (c *Cluster) ContainerLog(namespace, podPrefix, container string) string {
	dirs, _ := filepath.Glob(filepath.Join(c.Node.PodLogsDir(), namespace+"_"+podPrefix+"*", container))
	var files []string
	for _, d := range dirs {
		logs, _ := filepath.Glob(filepath.Join(d, "*.log"))
		files = append(files, logs...)
	}
	sort.Strings(files)
	var b strings.Builder
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			continue
		}
		s := bufio.NewScanner(fh)
		s.Buffer(make([]byte, 1<<20), 1<<20)
		for s.Scan() {
			// 2026-12-03T13:53:16.75Z stderr F <line>
			if parts := strings.SplitN(s.Text(), " ", 4); len(parts) == 4 {
				b.WriteString(parts[3])
				b.WriteByte('\n')
			}
		}
		fh.Close()
	}
	return b.String()
}
