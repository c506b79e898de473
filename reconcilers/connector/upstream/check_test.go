package upstream

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/oci-connector/oci-connector/pkg/credentials"
	"github.com/oci-connector/oci-connector/test/registry"
)

var goodCreds = credentials.Basic{Username: registry.Username, Password: registry.Password}

// closedAddress is an http URL on 127.0.0.1 where nothing listens.
func closedAddress(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

func TestRegistryCheckerAgainstRealRegistries(t *testing.T) {
	htpasswd := registry.NewHtpasswd(t)
	token := registry.NewTokenAuth(t)
	tlsReg := registry.NewHtpasswd(t, registry.WithTLS())
	badCreds := credentials.Basic{Username: registry.Username, Password: "wrong-password"}

	tests := []struct {
		name    string
		checker RegistryChecker
		target  Target
		wantErr error
	}{
		{name: "htpasswd, good credentials, scoped repository", target: tgt(htpasswd.URL, goodCreds, registry.SeedRepository)},
		{name: "htpasswd, good credentials, glob scope pings", target: tgt(htpasswd.URL, goodCreds, "testing/*")},
		{name: "htpasswd, good credentials, no scope", target: tgt(htpasswd.URL, goodCreds, "")},
		{name: "htpasswd, wrong password", target: tgt(htpasswd.URL, badCreds, registry.SeedRepository), wantErr: ErrUnauthorized},
		{name: "htpasswd, wrong password, no scope", target: tgt(htpasswd.URL, badCreds, ""), wantErr: ErrUnauthorized},
		{name: "htpasswd, repository missing", target: tgt(htpasswd.URL, goodCreds, "testing/nothing-here"), wantErr: ErrRepositoryNotFound},
		{name: "token auth, good credentials", target: tgt(token.URL, goodCreds, registry.SeedRepository)},
		{name: "token auth, good credentials, no scope", target: tgt(token.URL, goodCreds, "")},
		{name: "token auth, wrong password", target: tgt(token.URL, badCreds, registry.SeedRepository), wantErr: ErrUnauthorized},
		{name: "nothing listening", target: tgt(closedAddress(t), goodCreds, ""), wantErr: ErrUnreachable},
		{name: "TLS with an untrusted certificate", target: tgt(tlsReg.URL, goodCreds, registry.SeedRepository), wantErr: ErrTLS},
		{name: "TLS with its CA trusted", checker: RegistryChecker{RegistryCAPEM: tlsReg.CAPEM}, target: tgt(tlsReg.URL, goodCreds, registry.SeedRepository)},
		{name: "TLS with the CA from the Secret", target: withCA(tgt(tlsReg.URL, goodCreds, registry.SeedRepository), tlsReg.CAPEM)},
		{name: "TLS with verification off", target: insecure(tgt(tlsReg.URL, goodCreds, registry.SeedRepository))},
		{name: "https to a plain HTTP registry", target: tgt(strings.Replace(htpasswd.URL, "http://", "https://", 1), goodCreds, ""), wantErr: ErrTLS},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.checker.Timeout == 0 {
				tc.checker.Timeout = 10 * time.Second
			}
			err := tc.checker.Check(context.Background(), tc.target)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("Check() = %v, want success", err)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Check() = %v, want %v", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), tc.target.Credentials.Password) {
				t.Fatalf("the error leaks the password: %v", err)
			}
		})
	}
}

func TestCheckHonoursTheTimeout(t *testing.T) {
	// A listener that accepts and never answers.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	err = RegistryChecker{Timeout: 300 * time.Millisecond}.Check(context.Background(), tgt("http://"+l.Addr().String(), goodCreds, ""))
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("Check() = %v, want ErrUnreachable", err)
	}
}

func tgt(address string, creds credentials.Basic, repo string) Target {
	return Target{Address: address, Credentials: creds, Repository: repo}
}

func withCA(t Target, ca []byte) Target {
	t.CAPEM = ca
	return t
}

func insecure(t Target) Target {
	t.InsecureSkipVerify = true
	return t
}
