package clientconfig

// RegistriesConf is a registries.conf (version 2) for podman, buildah and
// skopeo: each endpoint a registry of its own, insecure where the proxy
// answers plain HTTP. The login is in auth.json (containers-auth).
func RegistriesConf(p Proxy) ([]byte, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	var f tomlFile
	f.comment("Written by the oci-connector CSI driver: the Connector's proxy for podman, buildah and skopeo.\nThe login is in auth.json (containers-auth).")
	for _, e := range sortedEndpoints(p.Endpoints) {
		f.line("")
		f.line("[[registry]]")
		f.line("location = %q", e.Host)
		f.line("insecure = %t", e.PlainHTTP)
	}
	return []byte(f.String()), nil
}
