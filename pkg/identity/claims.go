package identity

import (
	"encoding/base64"
	"encoding/json"
	"strings"
)

// unverifiedIssuer is the iss claim of a JWT, read without verifying it:
// only to tell a token that claims to be the cluster's from a foreign one.
func unverifiedIssuer(token string) string {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return ""
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var c struct {
		Iss string `json:"iss"`
	}
	if json.Unmarshal(raw, &c) != nil {
		return ""
	}
	return c.Iss
}
