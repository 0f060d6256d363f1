package fetch

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// Defaults of a Cache.
const (
	DefaultCacheBytes   = 64 << 20
	DefaultMaxFetch     = 16 << 20
	DefaultFetchTimeout = 10 * time.Second
)

// ErrClosed is returned by a cache whose client was closed.
var ErrClosed = errors.New("fetch: client closed")

// CacheConfig configures a Cache. The zero value of every field means its
// default.
type CacheConfig struct {
	// MaxBytes bounds the decoded bytes kept, all entries together
	// (default 64 MiB; negative: nothing is kept, downloads are still
	// shared by the calls that wait for them).
	MaxBytes int64
	// MaxEntry bounds one entry kept (default a quarter of MaxBytes); a
	// larger one is handed to the calls waiting for it, not kept.
	MaxEntry int64
	// MaxFetch bounds the file fetched, in bytes (default 16 MiB).
	MaxFetch int64
	// Timeout bounds one download (default 10 s).
	Timeout time.Duration
	// Decode turns the fetched file, read as it arrives, into what is kept
	// (default: the bytes as they are).
	Decode func(r io.Reader) ([]byte, error)
}

// CacheStats counts what a cache did.
type CacheStats struct {
	Entries     int    // entries kept now
	Bytes       int64  // their decoded bytes
	Hits        uint64 // gets answered from a fresh entry, without a request
	Downloads   uint64 // files downloaded whole
	Revalidated uint64 // stale entries a conditional request found unchanged (304)
	Shared      uint64 // gets that joined a download another get had started
}

// Cache keeps audio fetched by URL, decoded once and shared read-only by
// every call that plays it. A fresh entry (Cache-Control max-age, Expires,
// or a guess from Last-Modified) is served without a request; a stale one
// with an ETag or Last-Modified is revalidated with a conditional request;
// no-store is never kept. Calls that want a file being downloaded wait for
// that download rather than start their own. The least recently used
// entries go first when MaxBytes would be exceeded. Safe for concurrent
// use.
type Cache struct {
	c   *Client
	cfg CacheConfig
	now func() time.Time

	mu      sync.Mutex
	entries map[string]*entry
	lru     list.List // of *entry, most recently used first
	flights map[string]*flight
	stats   CacheStats
}

// entry is one kept file. Its fields never change once it is made: a
// revalidation replaces it.
type entry struct {
	key          string // url, or url and variant (see GetVariant)
	url          string
	data         []byte
	etag         string
	lastModified string
	freshUntil   time.Time
	elem         *list.Element // under Cache.mu
}

// flight is one download and the gets waiting for it.
type flight struct {
	done     chan struct{}
	data     []byte // set before done is closed
	err      error
	cancel   context.CancelFunc
	waiters  int  // under Cache.mu
	finished bool // under Cache.mu
}

// NewCache returns a cache fetching through c.
func (c *Client) NewCache(cfg CacheConfig) *Cache {
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = DefaultCacheBytes
	}
	if cfg.MaxEntry <= 0 {
		cfg.MaxEntry = cfg.MaxBytes / 4
	}
	if cfg.MaxFetch <= 0 {
		cfg.MaxFetch = DefaultMaxFetch
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultFetchTimeout
	}
	if cfg.Decode == nil {
		cfg.Decode = io.ReadAll
	}
	return &Cache{c: c, cfg: cfg, now: time.Now, entries: map[string]*entry{}, flights: map[string]*flight{}}
}

// Get returns the decoded file at rawURL (http or https): from a fresh
// entry, or by joining or starting its download. The bytes are shared by
// every caller and must not be modified. When ctx ends first Get returns
// its error; a download nobody waits for any more is cancelled. Refusals
// and other failures of the download are logged on the log of the get
// that started it.
func (k *Cache) Get(ctx context.Context, rawURL string, log *slog.Logger) ([]byte, error) {
	return k.get(ctx, rawURL, rawURL, k.cfg.Decode, log)
}

// GetVariant is Get for one of several decodings of the same file (the
// audio of one URL for calls in different codecs): entries and downloads
// are keyed by rawURL and variant together, and decode, not the cache's
// Decode, turns the file into what is kept. Gets of one key must pass
// decoders that do the same.
func (k *Cache) GetVariant(ctx context.Context, rawURL, variant string, decode func(io.Reader) ([]byte, error), log *slog.Logger) ([]byte, error) {
	return k.get(ctx, rawURL, rawURL+"\x00"+variant, decode, log)
}

func (k *Cache) get(ctx context.Context, rawURL, key string, decode func(io.Reader) ([]byte, error), log *slog.Logger) ([]byte, error) {
	k.mu.Lock()
	e := k.entries[key]
	if e != nil && k.now().Before(e.freshUntil) {
		k.lru.MoveToFront(e.elem)
		k.stats.Hits++
		k.mu.Unlock()
		return e.data, nil
	}
	f := k.flights[key]
	if f == nil {
		var err error
		if f, err = k.startLocked(rawURL, key, e, decode, log); err != nil {
			k.mu.Unlock()
			return nil, err
		}
	} else {
		k.stats.Shared++
	}
	f.waiters++
	k.mu.Unlock()

	select {
	case <-f.done:
		return f.data, f.err
	case <-ctx.Done():
		k.mu.Lock()
		f.waiters--
		if f.waiters == 0 && !f.finished {
			f.cancel()
			if k.flights[key] == f {
				delete(k.flights, key)
			}
		}
		k.mu.Unlock()
		return nil, ctx.Err()
	}
}

// startLocked starts the download of rawURL for key, conditional on
// stale's validators when there is a stale entry.
func (k *Cache) startLocked(rawURL, key string, stale *entry, decode func(io.Reader) ([]byte, error), log *slog.Logger) (*flight, error) {
	f := &flight{done: make(chan struct{})}
	if !k.c.goBackground(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, k.cfg.Timeout)
		defer cancel()
		e, store, err := k.download(ctx, rawURL, key, stale, decode, log)
		k.finish(f, key, e, store, err)
	}, &f.cancel) {
		return nil, ErrClosed
	}
	k.flights[key] = f
	return f, nil
}

// finish records a download's outcome, keeps its entry when allowed and
// wakes the gets waiting for it.
func (k *Cache) finish(f *flight, key string, e *entry, store bool, err error) {
	k.mu.Lock()
	f.finished = true
	if k.flights[key] == f {
		delete(k.flights, key)
	}
	if err != nil {
		f.err = err
	} else {
		f.data = e.data
		k.keepLocked(e, store)
	}
	k.mu.Unlock()
	close(f.done)
}

// keepLocked replaces the entry of e's key with e when it may be kept, else
// drops the old one; then it evicts the least recently used entries past
// MaxBytes.
func (k *Cache) keepLocked(e *entry, store bool) {
	if old := k.entries[e.key]; old != nil {
		k.removeLocked(old)
	}
	size := int64(len(e.data))
	validators := e.etag != "" || e.lastModified != ""
	if !store || k.cfg.MaxBytes < 0 || size > k.cfg.MaxEntry || size > k.cfg.MaxBytes ||
		(!k.now().Before(e.freshUntil) && !validators) {
		return
	}
	for k.stats.Bytes+size > k.cfg.MaxBytes {
		k.removeLocked(k.lru.Back().Value.(*entry))
	}
	e.elem = k.lru.PushFront(e)
	k.entries[e.key] = e
	k.stats.Bytes += size
	k.stats.Entries = len(k.entries)
}

func (k *Cache) removeLocked(e *entry) {
	k.lru.Remove(e.elem)
	delete(k.entries, e.key)
	k.stats.Bytes -= int64(len(e.data))
	k.stats.Entries = len(k.entries)
}

// download fetches rawURL for key, decoded by decode: a conditional
// request when stale has validators. It returns the entry to hand out and
// whether it may be kept.
func (k *Cache) download(ctx context.Context, rawURL, key string, stale *entry, decode func(io.Reader) ([]byte, error), log *slog.Logger) (*entry, bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, false, fmt.Errorf("fetch: %w", err)
	}
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		return nil, false, fmt.Errorf("fetch: scheme %q: want http or https", req.URL.Scheme)
	}
	req.Header.Set("User-Agent", "callstream")
	if stale != nil {
		if stale.etag != "" {
			req.Header.Set("If-None-Match", stale.etag)
		}
		if stale.lastModified != "" {
			req.Header.Set("If-Modified-Since", stale.lastModified)
		}
	}
	resp, err := k.c.Do(req, log)
	if err != nil {
		return nil, false, err
	}
	defer resp.Body.Close()
	fresh := freshnessOf(resp.Header, k.now())
	e := &entry{
		key:          key,
		url:          rawURL,
		etag:         resp.Header.Get("ETag"),
		lastModified: resp.Header.Get("Last-Modified"),
		freshUntil:   k.now().Add(fresh.lifetime),
	}
	switch {
	case resp.StatusCode == http.StatusNotModified && stale != nil:
		e.data = stale.data
		if e.etag == "" {
			e.etag = stale.etag
		}
		if e.lastModified == "" {
			e.lastModified = stale.lastModified
		}
		k.count(func(s *CacheStats) { s.Revalidated++ })
		return e, fresh.store, nil
	case resp.StatusCode == http.StatusOK:
		if resp.ContentLength > k.cfg.MaxFetch {
			return nil, false, fmt.Errorf("%w: more than %d bytes (Content-Length %d)", ErrTooLarge, k.cfg.MaxFetch, resp.ContentLength)
		}
		data, err := decode(LimitReader(resp.Body, k.cfg.MaxFetch))
		if err != nil {
			return nil, false, err
		}
		e.data = data
		k.count(func(s *CacheStats) { s.Downloads++ })
		return e, fresh.store, nil
	}
	return nil, false, fmt.Errorf("fetch: HTTP %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
}

func (k *Cache) count(fn func(*CacheStats)) {
	k.mu.Lock()
	fn(&k.stats)
	k.mu.Unlock()
}

// Stats returns the cache's counters.
func (k *Cache) Stats() CacheStats {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.stats
}

// goBackground runs fn in a goroutine the client owns (Close cancels its
// context and waits for it) and stores its cancel function in *cancel. It
// reports false, running nothing, once the client is closed.
func (c *Client) goBackground(fn func(ctx context.Context), cancel *context.CancelFunc) bool {
	c.bgMu.Lock()
	defer c.bgMu.Unlock()
	if c.closed {
		return false
	}
	ctx, stop := context.WithCancel(c.ctx)
	*cancel = stop
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer stop()
		fn(ctx)
	}()
	return true
}
