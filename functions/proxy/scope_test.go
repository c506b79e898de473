package main

import (
	"testing"

	"github.com/oci-connector/oci-connector/pkg/apis/connector"
)

func TestScopeAllows(t *testing.T) {
	pullPush := []connector.Verb{connector.VerbPull, connector.VerbPush}
	pull := []connector.Verb{connector.VerbPull}
	tests := []struct {
		name  string
		scope scope
		repo  string
		verb  connector.Verb
		want  bool
	}{
		{"no scope allows everything", scope{}, "any/thing", connector.VerbPush, true},
		{"exact repository param", scope{repository: "testing/busybox"}, "testing/busybox", connector.VerbPull, true},
		{"other repository refused", scope{repository: "testing/busybox"}, "testing/other", connector.VerbPull, false},
		{"glob param", scope{repository: "testing/*"}, "testing/other", connector.VerbPush, true},
		{"glob stays in its segment", scope{repository: "testing/*"}, "testing/a/b", connector.VerbPull, false},
		{"repositories grant verbs", scope{repositories: []repositoryAccess{{Path: "team-a/*", Access: pull}}}, "team-a/app", connector.VerbPull, true},
		{"pull-only path refuses push", scope{repositories: []repositoryAccess{{Path: "team-a/*", Access: pull}}}, "team-a/app", connector.VerbPush, false},
		{"path outside repositories", scope{repositories: []repositoryAccess{{Path: "team-a/*", Access: pullPush}}}, "team-b/app", connector.VerbPull, false},
		{"any matching entry grants", scope{repositories: []repositoryAccess{{Path: "team-a/*", Access: pull}, {Path: "team-a/ci-*", Access: pullPush}}}, "team-a/ci-cache", connector.VerbPush, true},
		{"param and repositories both apply", scope{repository: "team-a/*", repositories: []repositoryAccess{{Path: "*/app", Access: pull}}}, "team-b/app", connector.VerbPull, false},
		{"malformed glob matches nothing", scope{repository: "team/[a"}, "team/a", connector.VerbPull, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.scope.allows(tc.repo, tc.verb); got != tc.want {
				t.Errorf("allows(%q, %s) = %v, want %v", tc.repo, tc.verb, got, tc.want)
			}
		})
	}
}

func FuzzScopeAllows(f *testing.F) {
	f.Add("team-a/*", "team-a/app")
	f.Add("[", "x")
	f.Fuzz(func(t *testing.T, glob, name string) {
		s := scope{repository: glob}
		// With a scope set, a name outside its glob is never allowed,
		// whatever the input. (An empty glob means no scope at all.)
		if glob != "" && s.allows(name, connector.VerbPull) && !globMatch(glob, name) {
			t.Fatalf("allowed %q outside %q", name, glob)
		}
	})
}
