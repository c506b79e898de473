// Command credentialprovider is a kubelet image credential provider
// (KEP-2133, credentialprovider.kubelet.k8s.io/v1) for oci-connector's
// proxies, with ServiceAccount tokens (KEP-4412): the kubelet hands it the
// pulling pod's ServiceAccount token for the node audience, and it answers
// with that token as the password for the proxy. No registry credential is
// stored on the node or in any namespace.
//
// It reads one CredentialProviderRequest on stdin and writes one
// CredentialProviderResponse on stdout.
package main

import (
	"fmt"
	"io"
	"os"
)

func main() {
	if err := run(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "oci-connector credential provider: %v\n", err)
		os.Exit(1)
	}
}

func run(in io.Reader, out io.Writer) error {
	raw, err := io.ReadAll(io.LimitReader(in, maxRequestBytes))
	if err != nil {
		return fmt.Errorf("reading the request: %w", err)
	}
	resp, err := respond(raw, nowFunc())
	if err != nil {
		return err
	}
	_, err = out.Write(resp)
	return err
}
