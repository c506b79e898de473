package main

import (
	"testing"

	"github.com/oci-connector/oci-connector/pkg/apis/connector/v1alpha1"
)

func TestScopeAllows(t *testing.T) {
	pullPush := []v1alpha1.Verb{v1alpha1.VerbPull, v1alpha1.VerbPush}
	pull := []v1alpha1.Verb{v1alpha1.VerbPull}
	tests := []struct {
		name  string
		scope scope
		repo  string
		verb  v1alpha1.Verb
		want  bool
	}{
		{"no scope allows everything", scope{}, "any/thing", v1alpha1.VerbPush, true},
		{"exact repository param", scope{repository: "testing/busybox"}, "testing/busybox", v1alpha1.VerbPull, true},
		{"other repository refused", scope{repository: "testing/busybox"}, "testing/other", v1alpha1.VerbPull, false},
		{"glob param", scope{repository: "testing/*"}, "testing/other", v1alpha1.VerbPush, true},
		{"glob stays in its segment", scope{repository: "testing/*"}, "testing/a/b", v1alpha1.VerbPull, false},
		{"repositories grant verbs", scope{repositories: []v1alpha1.RepositoryAccess{{Path: "team-a/*", Access: pull}}}, "team-a/app", v1alpha1.VerbPull, true},
		{"pull-only path refuses push", scope{repositories: []v1alpha1.RepositoryAccess{{Path: "team-a/*", Access: pull}}}, "team-a/app", v1alpha1.VerbPush, false},
		{"path outside repositories", scope{repositories: []v1alpha1.RepositoryAccess{{Path: "team-a/*", Access: pullPush}}}, "team-b/app", v1alpha1.VerbPull, false},
		{"any matching entry grants", scope{repositories: []v1alpha1.RepositoryAccess{{Path: "team-a/*", Access: pull}, {Path: "team-a/ci-*", Access: pullPush}}}, "team-a/ci-cache", v1alpha1.VerbPush, true},
		{"param and repositories both apply", scope{repository: "team-a/*", repositories: []v1alpha1.RepositoryAccess{{Path: "*/app", Access: pull}}}, "team-b/app", v1alpha1.VerbPull, false},
		{"malformed glob matches nothing", scope{repository: "team/[a"}, "team/a", v1alpha1.VerbPull, false},
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
		if glob != "" && s.allows(name, v1alpha1.VerbPull) && !globMatch(glob, name) {
			t.Fatalf("allowed %q outside %q", name, glob)
		}
	})
}
