package apiserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
)

// What happens to a request before the router sees it, or instead of it.

// headAsGet answers HEAD as GET (RFC 9110 9.3.2): the route, the checks and
// the headers are the GET's. The server that owns the response drops the
// body, since the request it holds is still a HEAD, and keeps the
// Content-Length the GET would have had.
func headAsGet(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			r = r.Clone(r.Context())
			r.Method = http.MethodGet
		}
		next.ServeHTTP(w, r)
	})
}

// refusalListener makes the answers net/http gives, before any handler
// runs, to a request it cannot read (431 for a request line and headers over
// MaxHeaderBytes, 400 for a malformed one, 501 for an unknown transfer
// encoding) take the API's JSON error shape instead of plain text.
type refusalListener struct{ net.Listener }

func (l refusalListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return refusalConn{c}, nil
}

type refusalConn struct{ net.Conn }

// Write rewrites a refusal, which net/http writes straight to the
// connection in one call, and passes everything else through.
func (c refusalConn) Write(p []byte) (int, error) {
	if out, ok := jsonRefusal(p); ok {
		if _, err := c.Conn.Write(out); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// refusalHeaders follow the status line of every refusal net/http writes
// itself (net/http server.go, conn.serve). A handler's response always has a
// Date header between them, so it never matches.
const refusalHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

// jsonRefusal turns "HTTP/1.1 <code> <text>" + refusalHeaders + body into
// the same status with {"detail": "<Text>"}.
func jsonRefusal(p []byte) ([]byte, bool) {
	const proto = "HTTP/1.1 "
	if !bytes.HasPrefix(p, []byte(proto)) {
		return nil, false
	}
	end := bytes.Index(p, []byte(refusalHeaders))
	if end < 0 || bytes.Contains(p[:end], []byte("\r\n")) {
		return nil, false
	}
	status := string(p[len(proto):end])
	codeText, reason, _ := strings.Cut(status, ": ")
	code, text, ok := strings.Cut(codeText, " ")
	if n, err := strconv.Atoi(code); !ok || err != nil || n < 400 || n > 599 || text == "" {
		return nil, false
	}
	msg := text[:1] + strings.ToLower(text[1:])
	if reason != "" {
		msg += ": " + reason
	}
	body, err := json.Marshal(detail(msg))
	if err != nil {
		return nil, false
	}
	return fmt.Appendf(nil, "%s%s\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		proto, status, len(body), body), true
}
