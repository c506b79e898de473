package clientconfig

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Configuration names a set of files a client reads.
type Configuration string

// The configurations a CSI volume can ask for.
const (
	DockerConfigName    Configuration = "docker-config"
	BuildkitdName       Configuration = "buildkitd"
	ContainersAuthName  Configuration = "containers-auth"
	RegistriesConfName  Configuration = "registries-conf"
	ContainerdHostsName Configuration = "containerd-hosts"
)

// File names inside the volume.
const (
	DockerConfigFile   = "config.json"
	BuildkitdFile      = "buildkitd.toml"
	ContainersAuthFile = "auth.json"
	RegistriesConfFile = "registries.conf"
	// CAFile is where the proxy's CA is written, when it has one.
	CAFile = "ca.crt"
)

// renderers makes each configuration's files, by path in the volume.
var renderers = map[Configuration]func(Proxy) (map[string][]byte, error){
	DockerConfigName:    one(DockerConfigFile, DockerConfig),
	BuildkitdName:       one(BuildkitdFile, BuildkitdTOML),
	ContainersAuthName:  one(ContainersAuthFile, DockerConfig),
	RegistriesConfName:  one(RegistriesConfFile, RegistriesConf),
	ContainerdHostsName: ContainerdHosts,
}

func one(name string, render func(Proxy) ([]byte, error)) func(Proxy) (map[string][]byte, error) {
	return func(p Proxy) (map[string][]byte, error) {
		b, err := render(p)
		if err != nil {
			return nil, err
		}
		return map[string][]byte{name: b}, nil
	}
}

// Names lists the configurations, sorted, for error messages and docs.
func Names() []string {
	var out []string
	for n := range renderers {
		out = append(out, string(n))
	}
	slices.Sort(out)
	return out
}

// Known says whether name is a configuration.
func Known(name Configuration) bool {
	_, ok := renderers[name]
	return ok
}

// Render makes the files of every named configuration, by path in the
// volume. An unknown name is refused, naming the known ones.
func Render(names []Configuration, p Proxy) (map[string][]byte, error) {
	if len(names) == 0 {
		return nil, fmt.Errorf("no configuration asked for; known: %s", strings.Join(Names(), ", "))
	}
	out := map[string][]byte{}
	for _, n := range names {
		render, ok := renderers[n]
		if !ok {
			return nil, fmt.Errorf("unknown configuration %q; known: %s", n, strings.Join(Names(), ", "))
		}
		files, err := render(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n, err)
		}
		maps.Copy(out, files)
	}
	return out, nil
}
