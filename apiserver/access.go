package apiserver

import (
	"bufio"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"
)

// cors applies docs/api.md#11-transport around the router: an allowed origin may read
// responses with credentials, and a preflight on any /api path is answered
// here, before routing and authentication (browsers send no credentials on
// a preflight).
func (s *Server) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		h := w.Header()
		if origin != "" {
			h.Add("Vary", "Origin")
			if slices.Contains(s.cfg.CORSOrigins, origin) || slices.Contains(s.cfg.CORSOrigins, "*") {
				h.Set("Access-Control-Allow-Origin", origin)
				h.Set("Access-Control-Allow-Credentials", "true")
			}
		}
		if r.Method == http.MethodOptions && (r.URL.Path == "/api" || strings.HasPrefix(r.URL.Path, "/api/")) {
			h.Set("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
			if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
				h.Set("Access-Control-Allow-Headers", req)
				h.Add("Vary", "Access-Control-Request-Headers")
			}
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusOK)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// authenticate requires one of the configured API keys, when keys are
// configured, as a bearer token or in X-API-Key. When both headers carry a
// key, either being accepted is enough: neither header outranks the other,
// so a stale key left in one does not void a right key in the other.
func (s *Server) authenticate(c *gin.Context) {
	if len(s.cfg.APIKeys) == 0 {
		return
	}
	accepted := false
	if key := c.GetHeader("X-API-Key"); key != "" && s.keyAccepted(key) {
		accepted = true
	}
	if auth := c.GetHeader("Authorization"); len(auth) > 7 && strings.EqualFold(auth[:7], "Bearer ") {
		if key := strings.TrimSpace(auth[7:]); key != "" && s.keyAccepted(key) {
			accepted = true
		}
	}
	if !accepted {
		c.Header("WWW-Authenticate", `Bearer realm="haul"`)
		c.AbortWithStatusJSON(http.StatusUnauthorized, detail("Not authenticated"))
	}
}

// authenticateAPI authenticates requests under /api only.
func (s *Server) authenticateAPI(c *gin.Context) {
	if p := c.Request.URL.Path; p == "/api" || strings.HasPrefix(p, "/api/") {
		s.authenticate(c)
	}
}

// keyAccepted compares digests, in constant time and against every key,
// so neither a key's length nor which key matched shows in the timing.
func (s *Server) keyAccepted(got string) bool {
	g := sha256.Sum256([]byte(got))
	ok := 0
	for _, k := range s.cfg.APIKeys {
		want := sha256.Sum256([]byte(k))
		ok |= subtle.ConstantTimeCompare(g[:], want[:])
	}
	return ok == 1
}

// ReadAPIKeys reads keys from a file, one per line; blank lines and lines
// starting with # are skipped.
func ReadAPIKeys(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read API keys: %w", err)
	}
	defer f.Close()
	var keys []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line != "" && !strings.HasPrefix(line, "#") {
			keys = append(keys, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read API keys from %s: %w", path, err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("read API keys: %s has no key", path)
	}
	return keys, nil
}
