package clientconfig

import (
	"encoding/base64"
	"encoding/json"
)

// DockerConfig is a config.json logging in to every endpoint with the token.
// It is also the format of containers' auth.json and of the pull secrets'
// .dockerconfigjson.
func DockerConfig(p Proxy) ([]byte, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	type auth struct {
		Username string `json:"username"`
		Password string `json:"password"`
		Auth     string `json:"auth"`
	}
	auths := make(map[string]auth, len(p.Endpoints))
	for _, e := range p.Endpoints {
		auths[e.Host] = auth{
			Username: Username,
			Password: p.Token,
			Auth:     base64.StdEncoding.EncodeToString([]byte(Username + ":" + p.Token)),
		}
	}
	// encoding/json sorts map keys, so the same input gives the same bytes.
	return json.MarshalIndent(map[string]any{"auths": auths}, "", "  ")
}
