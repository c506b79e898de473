package testing

import (
	"context"
	"encoding/json"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	ktesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	"knative.dev/pkg/client/injection/ducks/duck/v1/addressable"
	fakekubeclient "knative.dev/pkg/client/injection/kube/client/fake"
	"knative.dev/pkg/configmap"
	"knative.dev/pkg/controller"
	fakedynamicclient "knative.dev/pkg/injection/clients/dynamicclient/fake"
	"knative.dev/pkg/logging"
	logtesting "knative.dev/pkg/logging/testing"
	"knative.dev/pkg/reconciler"
	rtesting "knative.dev/pkg/reconciler/testing"
	fakeservingclient "knative.dev/serving/pkg/client/injection/client/fake"

	fakeconnectorclient "github.com/oci-connector/oci-connector/pkg/client/injection/client/fake"
)

// maxEventBufferSize bounds the events one reconcile may record.
const maxEventBufferSize = 20

// Ctor builds a reconciler from a context holding fake clients and from listers.
type Ctor func(context.Context, *Listers, configmap.Watcher) controller.Reconciler

// MakeFactory returns a TableTest factory that runs ctor's reconciler
// against fake clients seeded with each row's objects.
func MakeFactory(ctor Ctor) rtesting.Factory {
	return func(t *testing.T, r *rtesting.TableRow) (controller.Reconciler, rtesting.ActionRecorderList, rtesting.EventList) {
		ls := NewListers(r.Objects)

		ctx := r.Ctx
		if ctx == nil {
			ctx = context.Background()
		}
		ctx = logging.WithLogger(ctx, logtesting.TestLogger(t))

		ctx, kubeClient := fakekubeclient.With(ctx, ls.GetKubeObjects()...)
		ctx, servingClient := fakeservingclient.With(ctx, ls.GetServingObjects()...)
		ctx, connectorClient := fakeconnectorclient.With(ctx, ls.GetConnectorObjects()...)
		ctx, dynamicClient := fakedynamicclient.With(ctx, NewScheme(), ToUnstructured(t, NewScheme(), r.Objects)...)
		ctx = addressable.WithDuck(ctx)

		eventRecorder := record.NewFakeRecorder(maxEventBufferSize)
		ctx = controller.WithEventRecorder(ctx, eventRecorder)

		c := ctor(ctx, &ls, configmap.NewStaticWatcher())
		r.Ctx = ctx

		// The reconciler does no work until it leads.
		if la, ok := c.(reconciler.LeaderAware); ok {
			if err := la.Promote(reconciler.UniversalBucket(), func(reconciler.Bucket, types.NamespacedName) {}); err != nil {
				t.Fatalf("promoting the reconciler: %v", err)
			}
		}

		for _, reactor := range r.WithReactors {
			kubeClient.PrependReactor("*", "*", reactor)
			servingClient.PrependReactor("*", "*", reactor)
			connectorClient.PrependReactor("*", "*", reactor)
			dynamicClient.PrependReactor("*", "*", reactor)
		}

		// Run Knative's own validation on every Service the reconciler writes.
		servingClient.PrependReactor("create", "*", func(action ktesting.Action) (bool, runtime.Object, error) {
			return rtesting.ValidateCreates(ctx, action)
		})
		servingClient.PrependReactor("update", "*", func(action ktesting.Action) (bool, runtime.Object, error) {
			return rtesting.ValidateUpdates(ctx, action)
		})

		actions := rtesting.ActionRecorderList{connectorClient, servingClient, kubeClient, dynamicClient}
		return requeueAsSuccess{c, r}, actions, rtesting.EventList{Recorder: eventRecorder}
	}
}

// RequeueAfterKey is where a row's OtherTestData holds the delay its
// reconcile asked to be requeued after.
const RequeueAfterKey = "requeueAfter"

// requeueAsSuccess treats a reconcile that asks to be requeued later as the
// success the controller treats it as (no error logged, no event), and
// records the delay for the row to assert.
type requeueAsSuccess struct {
	controller.Reconciler
	row *rtesting.TableRow
}

func (r requeueAsSuccess) Reconcile(ctx context.Context, key string) error {
	err := r.Reconciler.Reconcile(ctx, key)
	if ok, after := controller.IsRequeueKey(err); ok {
		if r.row.OtherTestData == nil {
			r.row.OtherTestData = map[string]interface{}{}
		}
		r.row.OtherTestData[RequeueAfterKey] = after
		return nil
	}
	return err
}

// ToUnstructured converts objects for the fake dynamic client, which handles
// only unstructured objects properly.
func ToUnstructured(t *testing.T, sch *runtime.Scheme, objs []runtime.Object) []runtime.Object {
	t.Helper()
	us := make([]runtime.Object, 0, len(objs))
	for _, obj := range objs {
		obj = obj.DeepCopyObject()
		gvks, _, err := sch.ObjectKinds(obj)
		if err != nil {
			t.Fatalf("kind of %T: %v", obj, err)
		}
		apiVersion, kind := gvks[0].ToAPIVersionAndKind()
		ta, err := meta.TypeAccessor(obj)
		if err != nil {
			t.Fatalf("type accessor of %T: %v", obj, err)
		}
		ta.SetAPIVersion(apiVersion)
		ta.SetKind(kind)
		b, err := json.Marshal(obj)
		if err != nil {
			t.Fatalf("marshalling %T: %v", obj, err)
		}
		u := &unstructured.Unstructured{}
		if err := json.Unmarshal(b, u); err != nil {
			t.Fatalf("unmarshalling %T: %v", obj, err)
		}
		us = append(us, u)
	}
	return us
}
