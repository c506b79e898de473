package clientconfig

// BuildkitdTOML is a buildkitd.toml that reaches each endpoint as the proxy
// serves it: plain HTTP, or TLS with the CA at CAFile. The login is in
// config.json, which buildkit reads from DOCKER_CONFIG or ~/.docker.
func BuildkitdTOML(p Proxy) ([]byte, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	var f tomlFile
	f.comment("Written by the oci-connector CSI driver: how buildkitd reaches the Connector's proxy.\nThe login is in config.json (docker-config).")
	for _, e := range sortedEndpoints(p.Endpoints) {
		f.line("")
		f.line("[registry.%q]", e.Host)
		switch {
		case e.PlainHTTP:
			f.line("  http = true")
		case p.CAFile != "":
			f.line("  ca = [%q]", p.CAFile)
		}
	}
	return []byte(f.String()), nil
}
