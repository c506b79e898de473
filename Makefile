# oci-connector's entry points. `make run` and `make test` are all a fresh
# machine needs (see README.md).

SHELL := /usr/bin/env bash
export PATH := /usr/local/go/bin:$(PATH)

BIN := $(CURDIR)/.bin
TOOLS := $(BIN)/etcd $(BIN)/kube-apiserver $(BIN)/kube-controller-manager $(BIN)/kubectl $(BIN)/crane $(BIN)/regctl $(BIN)/staticcheck \
	$(BIN)/buildkitd $(BIN)/buildctl $(BIN)/kubelet $(BIN)/kube-scheduler \
	$(BIN)/kube-proxy $(BIN)/ko $(BIN)/cluster-sources test/tools/traefik/build/.assembled $(BIN)/objectstore

.PHONY: run test bench tools codegen verify-codegen vet lint fuzz scenarios csi-sanity clean-tools cluster release

## run: start a local API server, a registry and the controller; show a Connector going Ready.
run: tools
	go run ./hack/localrun

## cluster: a private cluster with Knative Serving, Traefik and oci-connector
# installed with ko, left running in a network namespace until Ctrl-C.
cluster: tools
	go run ./hack/cluster

## release: the YAML a release ships, images built by ko and named by digest
# (KO_DOCKER_REPO must be set; KO_DEFAULTBASEIMAGE overrides ko.yaml's base).
release: $(BIN)/ko
	@test -n "$$KO_DOCKER_REPO" || { echo "set KO_DOCKER_REPO to the registry to push the images to" >&2; exit 1; }
	$(BIN)/ko resolve --base-import-paths -f config/ > release.yaml
	@echo "wrote release.yaml"

## test: everything CI checks: generated code, vet, lint, unit, real-API-server and end-to-end tests.
test: tools verify-codegen vet lint
	go test -count=1 -timeout 20m $$(go list ./... | grep -v /test/scenarios)
	$(MAKE) scenarios
	$(MAKE) csi-sanity
	$(MAKE) fuzz

## scenarios: the seeds' scenarios on a private cluster with Knative Serving (test/cluster), each with its wall time.
scenarios:
	set -o pipefail; go test -count=1 -timeout 30m -v ./test/scenarios | grep -E '^(=== RUN|\s*--- |PASS|FAIL|ok)|_test.go:|cluster: |kubectl get ksvc|^NAMESPACE|svc.cluster.local'

## csi-sanity: the CSI community's csi-sanity suite against the built CSI driver
# (a module of its own: csi-test needs a newer klog than Knative pins).
csi-sanity:
	cd test/csisanity && go test -count=1 -timeout 5m ./...

## fuzz: run each fuzz target briefly (FUZZTIME executions, 20000 by default).
# A count, not a duration: with a duration, Go 1.26's fuzz coordinator can
# report its own deadline as a failure on a loaded machine (golang/go#75804,
# fixed in Go 1.27). A count has no deadline to race.
FUZZTIME ?= 20000x
fuzz:
	go test ./functions/proxy -run '^$$' -fuzz '^FuzzParseRoute$$' -fuzztime $(FUZZTIME)
	go test ./functions/proxy -run '^$$' -fuzz '^FuzzScopeAllows$$' -fuzztime $(FUZZTIME)
	go test ./pkg/imageref -run '^$$' -fuzz '^FuzzRewrite$$' -fuzztime $(FUZZTIME)

## bench: upstream, reference relay and proxy side by side; prints BENCH <name> <value> lines (about 8 minutes).
bench: tools
	go run ./test/bench

## tools: build the test binaries into .bin/, each only when missing (about 15 minutes the first time).
tools: $(TOOLS)

$(BIN)/etcd:
	cd test/tools && go build -o $(BIN)/etcd ./cmd/etcd

# The version must be a real one: Knative's sharedmain refuses the
# v0.0.0-master+$$Format:%H$$ a plain build reports. Keep it equal to test/tools/go.mod.
K8S_VERSION := v1.35.4
K8S_LDFLAGS := -X k8s.io/component-base/version.gitVersion=$(K8S_VERSION) \
	-X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=35

$(BIN)/kube-apiserver:
	cd test/tools && go build -ldflags '$(K8S_LDFLAGS)' -o $(BIN)/kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver

# Only its ClusterRole aggregation runs in the tests: the addressable
# resolver role that lets the controller read any sink is aggregated.
$(BIN)/kube-controller-manager:
	cd test/tools && go build -ldflags '$(K8S_LDFLAGS)' -o $(BIN)/kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager

# The real node of test/realnode.
$(BIN)/kubelet:
	cd test/tools && go build -ldflags '$(K8S_LDFLAGS)' -o $(BIN)/kubelet k8s.io/kubernetes/cmd/kubelet

$(BIN)/kube-scheduler:
	cd test/tools && go build -ldflags '$(K8S_LDFLAGS)' -o $(BIN)/kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler

$(BIN)/kubectl:
	cd test/tools && go build -o $(BIN)/kubectl k8s.io/kubernetes/cmd/kubectl

# The S3-compatible object store of the cache's tests (gofakes3).
$(BIN)/objectstore:
	cd test/tools && go build -o $(BIN)/objectstore ./cmd/objectstore

$(BIN)/crane:
	cd test/tools/clients && go build -o $(BIN)/crane github.com/google/go-containerregistry/cmd/crane

$(BIN)/regctl:
	cd test/tools/clients && go build -o $(BIN)/regctl github.com/regclient/regclient/cmd/regctl

# buildkit v0.18.2, seed 002's, in a module of its own (test/tools/buildkit).
$(BIN)/buildkitd:
	cd test/tools/buildkit && go build -o $(BIN)/buildkitd github.com/moby/buildkit/cmd/buildkitd

$(BIN)/buildctl:
	cd test/tools/buildkit && go build -o $(BIN)/buildctl github.com/moby/buildkit/cmd/buildctl

# ko v0.19.1, as users install oci-connector (and as the tests build the
# cluster's images).
$(BIN)/ko:
	GOBIN=$(BIN) go install github.com/google/ko@v0.19.1

$(BIN)/kube-proxy:
	cd test/tools && go build -ldflags '$(K8S_LDFLAGS)' -o $(BIN)/kube-proxy k8s.io/kubernetes/cmd/kube-proxy

# What ko builds the test cluster's images from (Knative Serving, Traefik,
# CoreDNS, and config/'s own commands): every module they need fetched,
# since ko runs in the cluster's network namespace, which cannot reach the
# module proxy.
$(BIN)/cluster-sources: test/tools/traefik/go.sum test/tools/coredns/go.sum test/tools/knative/go.sum test/tools/traefik/build/.assembled
	cd test/tools/traefik && go list -deps github.com/traefik/traefik/v3/cmd/traefik >/dev/null
	cd test/tools/coredns && go list -deps . >/dev/null
	cd test/tools/knative && go list -deps knative.dev/serving/cmd/activator knative.dev/serving/cmd/autoscaler knative.dev/serving/cmd/controller knative.dev/serving/cmd/queue knative.dev/serving/cmd/webhook >/dev/null
	go list -deps ./reconcilers ./functions/... ./node/... >/dev/null
	touch $@

# Traefik's local replaces, assembled in the tree (build/ is not committed).
test/tools/traefik/build/.assembled: test/tools/traefik/assemble.sh $(wildcard test/tools/traefik/stubs/*.go test/tools/traefik/stubs/ext/*)
	test/tools/traefik/assemble.sh
	touch $@

$(BIN)/staticcheck:
	cd test/tools/clients && go build -o $(BIN)/staticcheck honnef.co/go/tools/cmd/staticcheck

## codegen: regenerate clients, listers, informers, injection and deepcopy.
codegen:
	./hack/update-codegen.sh

## verify-codegen: fail when generated code is stale.
verify-codegen:
	./hack/verify-codegen.sh

vet:
	go vet ./...
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^pkg/client/')); \
	if [ -n "$$unformatted" ]; then echo "gofmt wants to change: $$unformatted"; exit 1; fi

## lint: staticcheck on hand-written code (the generated clients in pkg/client are left out).
lint: $(BIN)/staticcheck
	$(BIN)/staticcheck $$(go list ./... | grep -v '/pkg/client/')

clean-tools:
	rm -rf $(BIN)
