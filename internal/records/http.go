package records

import (
	"net/http"
	"strings"
	"time"
)

// sendTimeout bounds sending one recording: an hour of 8 kHz audio is
// 29 MB, so slow clients get longer than the HTTP server's write timeout.
const sendTimeout = 10 * time.Minute

// Pattern is the route of ServeHTTP, for a mux that sets the path value
// "name"; the mux must let through only holders of an API token.
const Pattern = "GET /records/{name}"

// ServeHTTP serves the recording named by the request's path value
// "name" (or, without one, the last element of its path) as audio/wav;
// 404 for a name not in the store (never written, deleted, or not the
// shape of a recording's name).
func (rs *Store) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if name == "" {
		name = r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
	}
	path, ok := rs.Path(name)
	if !ok {
		http.NotFound(w, r)
		return
	}
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(sendTimeout))
	w.Header().Set("Content-Type", "audio/wav")
	http.ServeFile(w, r, path)
}

// URL returns the address of recording name under base, the scheme and
// host the HTTP listener is reached at.
func URL(base, name string) string {
	return strings.TrimRight(base, "/") + "/records/" + name
}
