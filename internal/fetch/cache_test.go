package fetch

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/limit"
	"github.com/callstream/callstream/internal/limit/limittest"
)

// fakeClock is a settable clock for cache freshness.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// fileServer is a file server whose answers a test scripts.
type fileServer struct {
	mu      sync.Mutex
	body    map[string]string
	header  map[string]http.Header
	reqs    []*http.Request
	release chan struct{} // when set, requests wait for it
	url     string
}

func newFileServer(t *testing.T) *fileServer {
	fs := &fileServer{body: map[string]string{}, header: map[string]http.Header{}}
	s := server(t, "127.0.0.1:0", fs.serve)
	fs.url = s.URL
	return fs
}

func (fs *fileServer) set(path, body string, h ...string) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.body[path] = body
	hdr := http.Header{}
	for i := 0; i+1 < len(h); i += 2 {
		hdr.Set(h[i], h[i+1])
	}
	fs.header[path] = hdr
}

func (fs *fileServer) requests(path string) []*http.Request {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var out []*http.Request
	for _, r := range fs.reqs {
		if r.URL.Path == path {
			out = append(out, r)
		}
	}
	return out
}

func (fs *fileServer) serve(w http.ResponseWriter, r *http.Request) {
	fs.mu.Lock()
	fs.reqs = append(fs.reqs, r.Clone(context.Background()))
	body, ok := fs.body[r.URL.Path]
	hdr := fs.header[r.URL.Path]
	release := fs.release
	fs.mu.Unlock()
	if release != nil {
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
	}
	if !ok {
		http.NotFound(w, r)
		return
	}
	for k, v := range hdr {
		w.Header()[k] = v
	}
	etag := hdr.Get("ETag")
	if etag != "" && r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if lm := hdr.Get("Last-Modified"); lm != "" && etag == "" && r.Header.Get("If-Modified-Since") == lm {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	io.WriteString(w, body)
}

func newCache(t *testing.T, cfg CacheConfig) (*Cache, *fakeClock) {
	t.Helper()
	c := New(Config{})
	t.Cleanup(c.Close)
	k := c.NewCache(cfg)
	clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	k.now = clock.Now
	return k, clock
}

func cacheGet(t *testing.T, k *Cache, u string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := k.Get(ctx, u, nil)
	if err != nil {
		t.Fatalf("get %s: %v", u, err)
	}
	return b
}

// Calls that want one file at once share one download and one buffer.
func TestCacheSharesOneDownload(t *testing.T) {
	fs := newFileServer(t)
	fs.set("/big.wav", strings.Repeat("x", 100000))
	fs.release = make(chan struct{})
	var decodes atomic.Int32
	k, _ := newCache(t, CacheConfig{Decode: func(r io.Reader) ([]byte, error) {
		decodes.Add(1)
		return io.ReadAll(r)
	}})
	const n = 10
	got := make([][]byte, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i] = cacheGet(t, k, fs.url+"/big.wav")
		}()
	}
	// Let every get join before the server answers.
	for deadline := time.Now().Add(5 * time.Second); ; {
		if st := k.Stats(); st.Shared == n-1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("gets did not join: %+v", k.Stats())
		}
		time.Sleep(time.Millisecond)
	}
	close(fs.release)
	wg.Wait()
	for i := range n {
		if len(got[i]) != 100000 || &got[i][0] != &got[0][0] {
			t.Fatalf("get %d: %d bytes, shared=%v", i, len(got[i]), len(got[i]) > 0 && &got[i][0] == &got[0][0])
		}
	}
	if r := len(fs.requests("/big.wav")); r != 1 || decodes.Load() != 1 {
		t.Fatalf("%d requests, %d decodes, want 1 each", r, decodes.Load())
	}
}

// max-age: fresh entries are served without a request; once stale and
// without validators the file is downloaded again.
func TestCacheMaxAge(t *testing.T) {
	fs := newFileServer(t)
	fs.set("/a.wav", "aaaa", "Cache-Control", "public, max-age=60")
	k, clock := newCache(t, CacheConfig{})
	first := cacheGet(t, k, fs.url+"/a.wav")
	clock.Add(59 * time.Second)
	again := cacheGet(t, k, fs.url+"/a.wav")
	if len(fs.requests("/a.wav")) != 1 || &first[0] != &again[0] {
		t.Fatalf("fresh entry: %d requests", len(fs.requests("/a.wav")))
	}
	clock.Add(2 * time.Second)
	fs.set("/a.wav", "bbbb", "Cache-Control", "max-age=60")
	if b := cacheGet(t, k, fs.url+"/a.wav"); string(b) != "bbbb" || len(fs.requests("/a.wav")) != 2 {
		t.Fatalf("stale entry: %q after %d requests", b, len(fs.requests("/a.wav")))
	}
	if st := k.Stats(); st.Hits != 1 || st.Downloads != 2 || st.Entries != 1 || st.Bytes != 4 {
		t.Fatalf("stats %+v", st)
	}
}

// ETag and Last-Modified: a stale entry is revalidated with a conditional
// request; 304 keeps the same buffer, 200 replaces it.
func TestCacheValidators(t *testing.T) {
	fs := newFileServer(t)
	fs.set("/e.wav", "v1-audio", "ETag", `"v1"`, "Cache-Control", "no-cache")
	lm := time.Unix(1_700_000_000, 0).UTC().Format(http.TimeFormat)
	fs.set("/m.wav", "m-audio", "Last-Modified", lm, "Cache-Control", "max-age=0")
	k, _ := newCache(t, CacheConfig{})

	first := cacheGet(t, k, fs.url+"/e.wav")
	second := cacheGet(t, k, fs.url+"/e.wav")
	reqs := fs.requests("/e.wav")
	if len(reqs) != 2 || reqs[1].Header.Get("If-None-Match") != `"v1"` || &first[0] != &second[0] {
		t.Fatalf("%d requests, If-None-Match %q", len(reqs), reqs[len(reqs)-1].Header.Get("If-None-Match"))
	}
	fs.set("/e.wav", "v2-audio", "ETag", `"v2"`, "Cache-Control", "no-cache")
	if b := cacheGet(t, k, fs.url+"/e.wav"); string(b) != "v2-audio" {
		t.Fatalf("changed file: %q", b)
	}

	cacheGet(t, k, fs.url+"/m.wav")
	cacheGet(t, k, fs.url+"/m.wav")
	reqs = fs.requests("/m.wav")
	if len(reqs) != 2 || reqs[1].Header.Get("If-Modified-Since") != lm {
		t.Fatalf("%d requests, If-Modified-Since %q", len(reqs), reqs[len(reqs)-1].Header.Get("If-Modified-Since"))
	}
	if st := k.Stats(); st.Revalidated != 2 || st.Downloads != 3 {
		t.Fatalf("stats %+v", st)
	}
}

// no-store is never kept; nor is a file too big for one entry.
func TestCacheNotKept(t *testing.T) {
	fs := newFileServer(t)
	fs.set("/nostore.wav", "abc", "Cache-Control", "no-store, max-age=600")
	fs.set("/huge.wav", strings.Repeat("h", 200), "Cache-Control", "max-age=600")
	k, _ := newCache(t, CacheConfig{MaxBytes: 600, MaxEntry: 150})
	for range 2 {
		cacheGet(t, k, fs.url+"/nostore.wav")
		cacheGet(t, k, fs.url+"/huge.wav")
	}
	if a, b := len(fs.requests("/nostore.wav")), len(fs.requests("/huge.wav")); a != 2 || b != 2 {
		t.Fatalf("requests %d, %d; want 2 each", a, b)
	}
	if st := k.Stats(); st.Entries != 0 || st.Bytes != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// The cache holds at most MaxBytes; the least recently used entry goes first.
func TestCacheLRUBound(t *testing.T) {
	fs := newFileServer(t)
	for _, name := range []string{"a", "b", "c", "d"} {
		fs.set("/"+name, strings.Repeat(name, 100), "Cache-Control", "max-age=600")
	}
	k, _ := newCache(t, CacheConfig{MaxBytes: 300, MaxEntry: 150})
	cacheGet(t, k, fs.url+"/a")
	cacheGet(t, k, fs.url+"/b")
	cacheGet(t, k, fs.url+"/c")
	cacheGet(t, k, fs.url+"/a") // a is now the most recently used
	cacheGet(t, k, fs.url+"/d") // b goes
	if st := k.Stats(); st.Bytes > 300 || st.Entries != 3 {
		t.Fatalf("stats %+v", st)
	}
	cacheGet(t, k, fs.url+"/a")
	cacheGet(t, k, fs.url+"/c")
	cacheGet(t, k, fs.url+"/b")
	for name, want := range map[string]int{"a": 1, "b": 2, "c": 1, "d": 1} {
		if got := len(fs.requests("/" + name)); got != want {
			t.Errorf("%s: %d requests, want %d", name, got, want)
		}
	}
}

// A cache of negative size keeps nothing but still shares a download.
func TestCacheOff(t *testing.T) {
	fs := newFileServer(t)
	fs.set("/a", "aaa", "Cache-Control", "max-age=600")
	k, _ := newCache(t, CacheConfig{MaxBytes: -1})
	cacheGet(t, k, fs.url+"/a")
	cacheGet(t, k, fs.url+"/a")
	if got := len(fs.requests("/a")); got != 2 || k.Stats().Entries != 0 {
		t.Fatalf("%d requests, %+v", got, k.Stats())
	}
}

// Failures: HTTP errors, files over MaxFetch, decode errors, refused
// addresses; none is kept.
func TestCacheErrors(t *testing.T) {
	fs := newFileServer(t)
	fs.set("/big", strings.Repeat("b", 2000))
	fs.set("/bad", "not audio")
	var n limittest.Counts
	c := New(Config{Refusals: &n})
	defer c.Close()
	k := c.NewCache(CacheConfig{MaxFetch: 1000, Decode: func(r io.Reader) ([]byte, error) {
		b, err := io.ReadAll(r)
		if err == nil && bytes.HasPrefix(b, []byte("not")) {
			return nil, errors.New("not a WAV file")
		}
		return b, err
	}})
	ctx := context.Background()
	log, logs := newLog()
	for path, want := range map[string]string{
		"/missing": "HTTP 404",
		"/big":     "more than 1000 bytes",
		"/bad":     "not a WAV file",
	} {
		if _, err := k.Get(ctx, fs.url+path, log); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", path, err, want)
		}
	}
	_, err := k.Get(ctx, "http://169.254.169.254/latest?token=x", log)
	if !errors.Is(err, ErrRefused) || n.Get(limit.URLPolicy) != 1 || strings.Count(logs.String(), "fetch refused") != 1 {
		t.Fatalf("refused: %v, %d counted, log:\n%s", err, n.Get(limit.URLPolicy), logs.String())
	}
	if _, err := k.Get(ctx, "ftp://example.com/a.wav", log); err == nil {
		t.Fatal("ftp fetched")
	}
	if st := k.Stats(); st.Entries != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// A get whose call ends stops waiting; the download nobody waits for any
// more is cancelled.
func TestCacheWaiterLeaves(t *testing.T) {
	fs := newFileServer(t)
	fs.set("/slow", "s")
	fs.release = make(chan struct{})
	defer close(fs.release)
	k, _ := newCache(t, CacheConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := k.Get(ctx, fs.url+"/slow", nil)
		done <- err
	}()
	for deadline := time.Now().Add(5 * time.Second); len(fs.requests("/slow")) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("no request")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
	// The download was cancelled: Close does not wait for the server.
	closed := make(chan struct{})
	go func() { k.c.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the abandoned download was not cancelled")
	}
	if _, err := k.Get(context.Background(), fs.url+"/slow", nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

func TestFreshness(t *testing.T) {
	now := time.Unix(1_800_000_000, 0).UTC()
	date := now.Format(http.TimeFormat)
	for name, tc := range map[string]struct {
		h     []string
		store bool
		life  time.Duration
	}{
		"nothing":             {nil, true, 0},
		"max-age":             {[]string{"Cache-Control", "max-age=120"}, true, 120 * time.Second},
		"quoted max-age":      {[]string{"Cache-Control", `max-age="30"`}, true, 30 * time.Second},
		"s-maxage wins":       {[]string{"Cache-Control", "max-age=120, s-maxage=10"}, true, 10 * time.Second},
		"no-store":            {[]string{"Cache-Control", "max-age=120, No-Store"}, false, 0},
		"no-cache":            {[]string{"Cache-Control", "no-cache, max-age=120"}, true, 0},
		"pragma":              {[]string{"Pragma", "no-cache", "Expires", now.Add(time.Hour).Format(http.TimeFormat)}, true, 0},
		"invalid max-age":     {[]string{"Cache-Control", "max-age=soon", "Expires", now.Add(time.Hour).Format(http.TimeFormat)}, true, 0},
		"age":                 {[]string{"Cache-Control", "max-age=120", "Age", "100"}, true, 20 * time.Second},
		"expires":             {[]string{"Date", date, "Expires", now.Add(time.Hour).Format(http.TimeFormat)}, true, time.Hour},
		"expired":             {[]string{"Date", date, "Expires", "0"}, true, 0},
		"heuristic":           {[]string{"Date", date, "Last-Modified", now.Add(-10 * time.Hour).Format(http.TimeFormat)}, true, time.Hour},
		"heuristic, recent":   {[]string{"Date", date, "Last-Modified", now.Add(-100 * time.Second).Format(http.TimeFormat)}, true, 10 * time.Second},
		"max-age beats guess": {[]string{"Cache-Control", "max-age=5", "Last-Modified", now.Add(-10 * time.Hour).Format(http.TimeFormat)}, true, 5 * time.Second},
	} {
		h := http.Header{}
		for i := 0; i+1 < len(tc.h); i += 2 {
			h.Add(tc.h[i], tc.h[i+1])
		}
		f := freshnessOf(h, now)
		if f.store != tc.store || f.lifetime != tc.life {
			t.Errorf("%s: %+v, want store=%v lifetime=%s", name, f, tc.store, tc.life)
		}
	}
}
