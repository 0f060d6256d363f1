package dashboard

import (
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"html"
	"net/http"
	"strings"
)

// The page's parts, put together once: no build step, nothing loaded
// from elsewhere (system fonts, inline style and script).
var (
	//go:embed page.html
	pageHTML string
	//go:embed page.css
	pageCSS string
	//go:embed page.js
	pageJS string
)

// page is the dashboard's HTML, and pageCSP its Content-Security-Policy:
// the inline style and script by their hashes, the feed from the same
// origin, nothing else.
var page, pageCSP, loginCSP = assemble()

func cspHash(s string) string {
	d := sha256.Sum256([]byte(s))
	return "'sha256-" + base64.StdEncoding.EncodeToString(d[:]) + "'"
}

func assemble() (string, string, string) {
	p := strings.Replace(pageHTML, "<!--style-->", "<style>"+pageCSS+"</style>", 1)
	p = strings.Replace(p, "<!--script-->", "<script>"+pageJS+"</script>", 1)
	csp := "default-src 'none'; style-src " + cspHash(pageCSS) + "; script-src " + cspHash(pageJS) +
		"; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
	login := "default-src 'none'; style-src " + cspHash(loginCSS) + "; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
	return p, csp, login
}

// loginCSS styles the login form.
const loginCSS = `body{font:15px system-ui,sans-serif;margin:3em auto;max-width:24em;color:#222}
input{font:inherit;padding:.3em;width:100%;box-sizing:border-box;margin:.4em 0}
button{font:inherit;padding:.3em 1em}.err{color:#b00}`

// writeLogin answers 401 with a form that posts the token to / (so that
// it stays out of the address bar and the history); msg (constant text)
// says what went wrong, if anything.
func writeLogin(w http.ResponseWriter, msg string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", loginCSP)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("WWW-Authenticate", `Bearer realm="callstream"`)
	w.WriteHeader(http.StatusUnauthorized)
	var b strings.Builder
	b.WriteString(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>callstream dashboard: sign in</title><style>`)
	b.WriteString(loginCSS)
	b.WriteString(`</style></head><body><h1>callstream</h1><p>The dashboard needs one of the gateway's API tokens.</p>`)
	if msg != "" {
		b.WriteString(`<p class="err" id="login-error">` + html.EscapeString(msg) + `</p>`)
	}
	b.WriteString(`<form method="post" action="/"><label>API token <input type="password" name="token" autocomplete="current-password" required autofocus></label><button type="submit">Open</button></form></body></html>`)
	_, _ = w.Write([]byte(b.String()))
}

// maxLoginBody bounds the login form's body.
const maxLoginBody = 4 << 10

// serveLoginForm serves POST /: the login form's token, as
// application/x-www-form-urlencoded.
func (d *Dashboard) serveLoginForm(w http.ResponseWriter, r *http.Request) {
	if d.cfg.ValidToken == nil {
		http.Error(w, offMessage, http.StatusForbidden)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginBody)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "the login form could not be read: "+err.Error(), http.StatusBadRequest)
		return
	}
	token := r.PostForm.Get("token")
	if token == "" {
		d.refuse(r, reasonNoAuth)
		writeLogin(w, "Give a token.")
		return
	}
	d.login(w, r, token)
}

// servePage serves GET /: the login step when the query holds a token,
// the page to an authorized request, the login form (401) otherwise.
func (d *Dashboard) servePage(w http.ResponseWriter, r *http.Request) {
	if d.cfg.ValidToken == nil {
		http.Error(w, offMessage, http.StatusForbidden)
		return
	}
	if token := r.URL.Query().Get("token"); token != "" {
		d.login(w, r, token)
		return
	}
	if ok, reason := d.authorize(r); !ok {
		d.refuse(r, reason)
		msg := ""
		if reason != reasonNoAuth {
			msg = "Sign in again: " + reason + "."
		}
		writeLogin(w, msg)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	_, _ = w.Write([]byte(page))
}
