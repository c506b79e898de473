package connector

import (
	"context"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/oci-connector/oci-connector/reconcilers/connector/upstream"
)

type countingChecker struct{ calls int }

func (c *countingChecker) Check(context.Context, upstream.Target) error {
	c.calls++
	return nil
}

// The upstream is called again only when the Connector or its Secret changed,
// or the last check is older than the re-check interval.
func TestUpstreamCheckedOnChangeAndPeriodically(t *testing.T) {
	now := clocktesting.NewFakePassiveClock(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))
	counter := &countingChecker{}
	r := &Reconciler{
		checker:       counter,
		checks:        newCheckResults(),
		cacheChecks:   newCheckResults(),
		secretDigests: newSecretDigests(),
		settings:      testSettings,
		clock:         now,
	}
	c := connector(goodAddress)
	spec := c.Spec.WithDefaults()
	secret := goodSecret()
	check := func() {
		r.checkUpstream(context.Background(), c, spec, secret, r.secretDigests.Of(secret), goodCredsFor(t, secret))
	}

	check()
	check()
	if counter.calls != 1 {
		t.Fatalf("two reconciles with nothing changed called the upstream %d times, want 1", counter.calls)
	}
	c.Generation++
	check()
	if counter.calls != 2 {
		t.Fatalf("a new generation did not re-check (calls = %d)", counter.calls)
	}
	secret = rotatedSecret()
	check()
	if counter.calls != 3 {
		t.Fatalf("a rotated Secret did not re-check (calls = %d)", counter.calls)
	}
	now.SetTime(now.Now().Add(DefaultRecheckInterval))
	check()
	if counter.calls != 4 {
		t.Fatalf("a check older than the interval was reused (calls = %d)", counter.calls)
	}
	r.checks.Forget(types.UID("uid-" + testName))
	check()
	if counter.calls != 5 {
		t.Fatalf("a forgotten Connector reused its old check (calls = %d)", counter.calls)
	}
}
