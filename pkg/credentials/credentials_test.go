package credentials

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func dockerConfigSecret(key, body string) map[string][]byte {
	return map[string][]byte{KeyDockerConfigJSON: []byte(fmt.Sprintf(`{"auths":{%q:%s}}`, key, body))}
}

func TestFromSecretData(t *testing.T) {
	auth := base64.StdEncoding.EncodeToString([]byte("robot:s3cret"))
	tests := []struct {
		name    string
		data    map[string][]byte
		host    string
		want    Basic
		wantErr string
	}{{
		name: "username and password keys",
		data: map[string][]byte{"username": []byte("robot"), "password": []byte("s3cret")},
		host: "harbor.example.com",
		want: Basic{"robot", "s3cret"},
	}, {
		name:    "password missing names the key",
		data:    map[string][]byte{"username": []byte("robot")},
		host:    "harbor.example.com",
		wantErr: "missing key: password",
	}, {
		name:    "empty secret names both keys",
		data:    map[string][]byte{},
		host:    "harbor.example.com",
		wantErr: "missing key: username, password",
	}, {
		name: "dockerconfigjson with username and password",
		data: dockerConfigSecret("harbor.example.com", `{"username":"robot","password":"s3cret"}`),
		host: "harbor.example.com",
		want: Basic{"robot", "s3cret"},
	}, {
		name: "dockerconfigjson with auth and a URL key",
		data: dockerConfigSecret("https://127.0.0.1:5000/v2/", fmt.Sprintf(`{"auth":%q}`, auth)),
		host: "127.0.0.1:5000",
		want: Basic{"robot", "s3cret"},
	}, {
		name: "docker hub aliases match",
		data: dockerConfigSecret("https://index.docker.io/v1/", fmt.Sprintf(`{"auth":%q}`, auth)),
		host: "registry-1.docker.io",
		want: Basic{"robot", "s3cret"},
	}, {
		name: "every name imageref knows Docker Hub by matches",
		data: dockerConfigSecret("docker.io", fmt.Sprintf(`{"auth":%q}`, auth)),
		host: "registry.hub.docker.com",
		want: Basic{"robot", "s3cret"},
	}, {
		name:    "dockerconfigjson for another host",
		data:    dockerConfigSecret("other.example.com", `{"username":"robot","password":"s3cret"}`),
		host:    "harbor.example.com",
		wantErr: "has no entry for harbor.example.com",
	}, {
		name:    "dockerconfigjson that is not JSON does not echo it",
		data:    map[string][]byte{KeyDockerConfigJSON: []byte(`{"auths": s3cret`)},
		host:    "harbor.example.com",
		wantErr: "is not valid JSON",
	}, {
		name:    "auth that is not user:password",
		data:    dockerConfigSecret("harbor.example.com", fmt.Sprintf(`{"auth":%q}`, base64.StdEncoding.EncodeToString([]byte("s3cret")))),
		host:    "harbor.example.com",
		wantErr: "is not user:password",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FromSecretData(tc.data, tc.host)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, ErrMissingKey) {
					t.Fatalf("error = %v, want ErrMissingKey containing %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Fatalf("error leaks the secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if got != tc.want {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestBasicNeverPrintsThePassword(t *testing.T) {
	b := Basic{Username: "robot", Password: "s3cret"}
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		if out := fmt.Sprintf(format, b); strings.Contains(out, "s3cret") {
			t.Errorf("%s printed the password: %s", format, out)
		}
	}
}
