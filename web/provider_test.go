package web_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// testProvider is a small OpenID provider for the tests: discovery, JWKS,
// an /authorize that signs in a preset user at once and redirects back
// with a code, and a /token endpoint that checks the client, the code
// (once), the PKCE verifier and the redirect URI, and hands out ID tokens
// and refresh tokens. iamgate's side of the flow is the real thing.
type testProvider struct {
	t      *testing.T
	srv    *httptest.Server
	key    *rsa.PrivateKey
	now    func() time.Time
	secret string

	mu          sync.Mutex
	claims      map[string]any // of the user who signs in next
	idTTL       time.Duration
	refresh     bool   // hand out refresh tokens
	refreshFail bool   // refuse refresh grants
	nonceOver   string // put this nonce in ID tokens instead of the requested one
	codes       map[string]*codeGrant
	refreshes   map[string]map[string]any
	tokenCalls  int
	revocations int // refresh tokens revoked at /revoke
}

type codeGrant struct {
	challenge, nonce, redirect string
	claims                     map[string]any
	used                       bool
}

const clientID = "iamgate-console"

func newTestProvider(t *testing.T, now func() time.Time) *testProvider {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := &testProvider{t: t, key: key, now: now, secret: "client-secret", idTTL: time.Hour,
		codes: map[string]*codeGrant{}, refreshes: map[string]map[string]any{},
		claims: map[string]any{"sub": "id-alice", "preferred_username": "alice", "email": "alice@example.com", "groups": []any{"staff"}}}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		writeJSONT(w, map[string]any{
			"issuer": p.srv.URL, "authorization_endpoint": p.srv.URL + "/authorize", "token_endpoint": p.srv.URL + "/token",
			"jwks_uri": p.srv.URL + "/jwks", "end_session_endpoint": p.srv.URL + "/logout",
			"revocation_endpoint":      p.srv.URL + "/revoke",
			"response_types_supported": []string{"code"}, "subject_types_supported": []string{"public"},
			"id_token_signing_alg_values_supported": []string{"RS256"}, "code_challenge_methods_supported": []string{"S256"},
		})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		writeJSONT(w, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &p.key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	})
	mux.HandleFunc("/authorize", p.authorize)
	mux.HandleFunc("/token", p.token)
	mux.HandleFunc("/revoke", p.revoke)
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

func writeJSONT(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func (p *testProvider) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != clientID || q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" ||
		q.Get("code_challenge") == "" || q.Get("nonce") == "" || q.Get("state") == "" {
		http.Error(w, "bad authorization request: "+r.URL.RawQuery, http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	code := randomT()
	claims := map[string]any{}
	for k, v := range p.claims {
		claims[k] = v
	}
	p.codes[code] = &codeGrant{challenge: q.Get("code_challenge"), nonce: q.Get("nonce"), redirect: q.Get("redirect_uri"), claims: claims}
	p.mu.Unlock()
	u, _ := url.Parse(q.Get("redirect_uri"))
	u.RawQuery = url.Values{"code": {code}, "state": {q.Get("state")}}.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

func tokenError(w http.ResponseWriter, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

func (p *testProvider) token(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tokenCalls++
	_ = r.ParseForm()
	id, sec, ok := r.BasicAuth()
	if !ok {
		id, sec = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != clientID || sec != p.secret {
		tokenError(w, "invalid_client", "client authentication failed")
		return
	}
	var claims map[string]any
	nonce := ""
	switch r.PostForm.Get("grant_type") {
	case "authorization_code":
		g := p.codes[r.PostForm.Get("code")]
		if g == nil || g.used {
			tokenError(w, "invalid_grant", "the authorization code is unknown or was already used")
			return
		}
		g.used = true
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		if base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge {
			tokenError(w, "invalid_grant", "the PKCE code verifier does not match the challenge")
			return
		}
		if r.PostForm.Get("redirect_uri") != g.redirect {
			tokenError(w, "invalid_grant", "redirect_uri mismatch")
			return
		}
		claims, nonce = g.claims, g.nonce
	case "refresh_token":
		c := p.refreshes[r.PostForm.Get("refresh_token")]
		if c == nil || p.refreshFail {
			tokenError(w, "invalid_grant", "refresh token revoked")
			return
		}
		delete(p.refreshes, r.PostForm.Get("refresh_token")) // rotation
		claims = c
	default:
		tokenError(w, "unsupported_grant_type", "")
		return
	}
	if p.nonceOver != "" && nonce != "" {
		nonce = p.nonceOver
	}
	resp := map[string]any{"access_token": randomT(), "token_type": "Bearer", "expires_in": int(p.idTTL / time.Second),
		"id_token": p.mint(claims, nonce)}
	if p.refresh {
		rt := randomT()
		p.refreshes[rt] = claims
		resp["refresh_token"] = rt
	}
	writeJSONT(w, resp)
}

// revoke is the RFC 7009 revocation endpoint: it forgets a refresh token.
func (p *testProvider) revoke(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = r.ParseForm()
	id, sec, ok := r.BasicAuth()
	if !ok {
		id, sec = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if r.Method != http.MethodPost || id != clientID || sec != p.secret {
		tokenError(w, "invalid_client", "client authentication failed")
		return
	}
	if _, ok := p.refreshes[r.PostForm.Get("token")]; ok {
		delete(p.refreshes, r.PostForm.Get("token"))
		p.revocations++
	}
	w.WriteHeader(http.StatusOK)
}

func (p *testProvider) mint(claims map[string]any, nonce string) string {
	now := p.now()
	c := map[string]any{"iss": p.srv.URL, "aud": clientID, "iat": now.Unix(), "exp": now.Add(p.idTTL).Unix()}
	for k, v := range claims {
		c[k] = v
	}
	if nonce != "" {
		c["nonce"] = nonce
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: p.key}, (&jose.SignerOptions{}).WithHeader("kid", "k1").WithType("JWT"))
	if err != nil {
		p.t.Fatal(err)
	}
	payload, _ := json.Marshal(c)
	jws, err := signer.Sign(payload)
	if err != nil {
		p.t.Fatal(err)
	}
	s, _ := jws.CompactSerialize()
	return s
}

func randomT() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
