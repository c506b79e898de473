package main

import (
	"encoding/json"
	"net/http"
)

// OCI distribution error codes, as distribution's registry/api/errcode names them.
const (
	codeUnauthorized    = "UNAUTHORIZED"
	codeDenied          = "DENIED"
	codeNameInvalid     = "NAME_INVALID"
	codeDigestInvalid   = "DIGEST_INVALID"
	codeManifestInvalid = "MANIFEST_INVALID"
	codeUnsupported     = "UNSUPPORTED"
	codeTooManyRequests = "TOOMANYREQUESTS"
	codeUnknown         = "UNKNOWN"
)

type ociError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type ociErrors struct {
	Errors []ociError `json:"errors"`
}

// writeError answers with the OCI error JSON.
func writeError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(ociErrors{Errors: []ociError{{Code: code, Message: message}}})
}
