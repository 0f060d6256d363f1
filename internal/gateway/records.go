package gateway

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/callstream/callstream/internal/records"
)

// openRecords opens the store of the FlexML calls' recordings in
// RecordingsDir and serves it at GET /records/{name} to API token
// holders. Run closes it when it returns. When the default directory
// cannot be used the gateway runs without it (nil, with a warning). (A scenario runtime keeps its
// own recordings in a store of the same kind and serves them itself.)
func (g *Gateway) openRecords() (*records.Store, error) {
	dir := g.cfg.RecordingsDir
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "callstream")
	}
	ttl := g.cfg.RecordingsTTL
	if ttl == 0 {
		ttl = records.DefaultTTL
	}
	store, err := records.Open(dir, ttl, g.log)
	if err != nil {
		if g.cfg.RecordingsDir != "" {
			return nil, err
		}
		// The default directory (shared with the system's other users)
		// is not usable: FlexML calls run, without <Record>.
		g.log.Warn("recordings off: <Record> verbs are skipped; give --recordings-dir", "err", err)
		return nil, nil
	}
	prev := g.cfg.Routes
	g.cfg.Routes = func(r *Router) {
		if prev != nil {
			prev(r)
		}
		r.Handle(records.Pattern, store)
	}
	return store, nil
}

// baseURL is the scheme and host the HTTP listener is reached at:
// PublicURL, or http:// and the listener's address.
func (g *Gateway) baseURL() string {
	if g.cfg.PublicURL != "" {
		return strings.TrimRight(g.cfg.PublicURL, "/")
	}
	return "http://" + g.HTTPAddr()
}
