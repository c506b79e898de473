package clientconfig

import "path"

// ContainerdHosts is containerd's registry host configuration: a
// <host>/hosts.toml per endpoint, the layout of a certs.d directory
// (config_path in containerd, --hosts-dir for ctr). containerd has no
// login file: clients pass the token from config.json.
func ContainerdHosts(p Proxy) (map[string][]byte, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(p.Endpoints))
	for _, e := range p.Endpoints {
		scheme := "https"
		if e.PlainHTTP {
			scheme = "http"
		}
		var f tomlFile
		f.comment("Written by the oci-connector CSI driver: containerd reaches the Connector's proxy here.")
		f.line("server = %q", scheme+"://"+e.Host)
		f.line("")
		f.line("[host.%q]", scheme+"://"+e.Host)
		f.line("  capabilities = [\"pull\", \"resolve\", \"push\"]")
		if !e.PlainHTTP && p.CAFile != "" {
			f.line("  ca = %q", p.CAFile)
		}
		out[path.Join(e.Host, "hosts.toml")] = []byte(f.String())
	}
	return out, nil
}
