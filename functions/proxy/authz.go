package main

import (
	"context"

	"k8s.io/apimachinery/pkg/types"

	"github.com/oci-connector/oci-connector/pkg/access"
	"github.com/oci-connector/oci-connector/pkg/apis/connector"
	"github.com/oci-connector/oci-connector/pkg/identity"
)

// authorizer asks whether an identity may pull or push through this proxy's
// Connector.
type authorizer struct {
	reviewer  *access.Reviewer
	connector types.NamespacedName
	// lookedUp, when set, hears whether each lookup hit the cache.
	lookedUp func(ctx context.Context, hit bool)
}

func (a *authorizer) allowed(ctx context.Context, id *identity.User, verb connector.Verb) (bool, error) {
	ok, hit, err := a.reviewer.Allowed(ctx, *id, a.connector, verb)
	if a.lookedUp != nil {
		a.lookedUp(ctx, hit)
	}
	return ok, err
}
