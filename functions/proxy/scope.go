package main

import (
	"path"
	"slices"

	"github.com/oci-connector/oci-connector/pkg/apis/connector"
)

// scope is what a Connector lets clients reach: the auth.params repository
// glob, and spec.repositories' globs with their verbs. Globs follow path.Match,
// so * stays within one path segment.
type scope struct {
	repository   string
	repositories []repositoryAccess
}

// repositoryAccess is one entry of spec.repositories as the controller
// writes it into the proxy's environment (proxyenv.Repositories, JSON).
type repositoryAccess struct {
	Path   string           `json:"path"`
	Access []connector.Verb `json:"access"`
}

// allows says whether verb is allowed on the repository name.
func (s scope) allows(name string, verb connector.Verb) bool {
	if s.repository != "" && !globMatch(s.repository, name) {
		return false
	}
	if len(s.repositories) == 0 {
		return true
	}
	for _, r := range s.repositories {
		if globMatch(r.Path, name) && slices.Contains(r.Access, verb) {
			return true
		}
	}
	return false
}

func globMatch(glob, name string) bool {
	ok, err := path.Match(glob, name)
	// Validation refuses malformed globs; one that slips through matches nothing.
	return err == nil && ok
}
