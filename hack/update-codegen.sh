#!/usr/bin/env bash
# Regenerates deepcopy, clientset, listers, informers and Knative injection
# (with the genreconciler) for pkg/apis. The generators are pinned in go.mod
# through hack/tools.go and run with `go run`; no vendor tree, no network
# beyond the module proxy.
set -o errexit -o nounset -o pipefail

cd "$(dirname "$0")/.."
module=github.com/oci-connector/oci-connector
header=hack/boilerplate.go.txt
apis=${module}/pkg/apis/connector/v1alpha1
client=${module}/pkg/client

rm -rf "./pkg/client"
mkdir -p "./pkg/client"

echo "deepcopy-gen"
go run k8s.io/code-generator/cmd/deepcopy-gen \
  --go-header-file "${header}" \
  --output-file zz_generated.deepcopy.go \
  "${apis}"

echo "client-gen"
go run k8s.io/code-generator/cmd/client-gen \
  --go-header-file "${header}" \
  --clientset-name versioned \
  --input-base "" \
  --input "${apis}" \
  --output-dir "./pkg/client/clientset" \
  --output-pkg "${client}/clientset"

echo "lister-gen"
go run k8s.io/code-generator/cmd/lister-gen \
  --go-header-file "${header}" \
  --output-dir "./pkg/client/listers" \
  --output-pkg "${client}/listers" \
  "${apis}"

echo "informer-gen"
go run k8s.io/code-generator/cmd/informer-gen \
  --go-header-file "${header}" \
  --versioned-clientset-package "${client}/clientset/versioned" \
  --listers-package "${client}/listers" \
  --output-dir "./pkg/client/informers" \
  --output-pkg "${client}/informers" \
  "${apis}"

echo "injection-gen"
go run knative.dev/pkg/codegen/cmd/injection-gen \
  --go-header-file "${header}" \
  --input-dirs "${apis}" \
  --versioned-clientset-package "${client}/clientset/versioned" \
  --external-versions-informers-package "${client}/informers/externalversions" \
  --listers-package "${client}/listers" \
  --output-package "${client}/injection" \
  --output-dir "./pkg/client/injection"
