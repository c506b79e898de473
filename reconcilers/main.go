// Command reconcilers is oci-connector's control plane: the Connector
// reconciler, run by Knative's sharedmain.
package main

import (
	"knative.dev/pkg/injection/sharedmain"

	"github.com/oci-connector/oci-connector/reconcilers/connector"
)

func main() {
	sharedmain.Main("oci-connector-controller", connector.NewController)
}
