package registry

import (
	"io"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Pull reads an image as a client pulls it: its manifest, config and every
// layer, each layer's digest checked as it is read (on Close).
func Pull(image string, auth authn.Authenticator) error {
	ref, err := name.ParseReference(image, name.Insecure)
	if err != nil {
		return err
	}
	img, err := remote.Image(ref, remote.WithAuth(auth))
	if err != nil {
		return err
	}
	if _, err := img.RawConfigFile(); err != nil {
		return err
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, rc)
		if cerr := rc.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}
