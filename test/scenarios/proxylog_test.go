package scenarios

import (
	"testing"
)

// proxyAnswered says whether the proxy answered user's request for
// repository with status: the pull went through the proxy as that
// ServiceAccount, not around it.
func proxyAnswered(t *testing.T, p *connectorProxy, user, repository string, status int) bool {
	t.Helper()
	for _, r := range p.Requests() {
		if r.User == user && r.Repository == repository && r.Status == status {
			return true
		}
	}
	return false
}
