package tokenclaims

import (
	"encoding/base64"
	"slices"
	"testing"
	"time"
)

func jwt(payload string) string {
	return "e30." + base64.RawURLEncoding.EncodeToString([]byte(payload)) + ".sig"
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, token string
		ok          bool
		aud         []string
		exp         int64
	}{
		{"aud as a string", jwt(`{"aud":"a","exp":100}`), true, []string{"a"}, 100},
		{"aud as a list", jwt(`{"aud":["a","b"]}`), true, []string{"a", "b"}, 0},
		{"not three parts", "abc.def", false, nil, 0},
		{"a payload that is not base64url", "e30.!!!.sig", false, nil, 0},
		{"a payload that is not JSON", jwt(`not json`), false, nil, 0},
	} {
		c, ok := Parse(tc.token)
		if ok != tc.ok || !slices.Equal(c.Aud, tc.aud) || c.Exp != tc.exp {
			t.Errorf("%s: %+v %v", tc.name, c, ok)
		}
		exp, has := c.Expiry()
		if has != (tc.exp != 0) || (has && !exp.Equal(time.Unix(tc.exp, 0))) {
			t.Errorf("%s: expiry %v %v", tc.name, exp, has)
		}
	}
}
