package main

import (
	"bufio"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"

	"github.com/callstream/callstream/internal/webhook"
)

// prefixList is a flag holding a comma-separated list of CIDR networks (a
// bare address is a /32 or /128); given more than once, the lists add up.
type prefixList []netip.Prefix

func (p *prefixList) String() string {
	if p == nil {
		return ""
	}
	out := make([]string, len(*p))
	for i, x := range *p {
		out[i] = x.String()
	}
	return strings.Join(out, ",")
}

func (p *prefixList) Set(v string) error {
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return fmt.Errorf("%q: not an address or CIDR network", f)
			}
			*p = append(*p, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		x, err := netip.ParsePrefix(f)
		if err != nil {
			return fmt.Errorf("%q: not a CIDR network", f)
		}
		*p = append(*p, x.Masked())
	}
	return nil
}

// readTokens returns the API tokens: token (if set) and one per non-empty,
// non-comment line of file (if set).
func readTokens(token, file string) ([]string, error) {
	var out []string
	if t := strings.TrimSpace(token); t != "" {
		out = append(out, t)
	}
	if file == "" {
		return out, nil
	}
	lines, err := readLines(file)
	if err != nil {
		return nil, fmt.Errorf("--api-token-file: %w", err)
	}
	out = append(out, lines...)
	if len(out) == 0 {
		return nil, fmt.Errorf("--api-token-file %s: no token in it", file)
	}
	return out, nil
}

// readSIPAuth reads "user:password" lines.
func readSIPAuth(file string) (map[string]string, error) {
	if file == "" {
		return nil, nil
	}
	lines, err := readLines(file)
	if err != nil {
		return nil, fmt.Errorf("--sip-auth-file: %w", err)
	}
	out := map[string]string{}
	for i, l := range lines {
		user, pass, ok := strings.Cut(l, ":")
		if !ok || user == "" || pass == "" {
			return nil, fmt.Errorf("--sip-auth-file %s: entry %d: want user:password", file, i+1)
		}
		out[user] = pass
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--sip-auth-file %s: no user:password in it", file)
	}
	return out, nil
}

// readLines returns the trimmed lines of file that are neither empty nor
// comments (#).
func readLines(file string) ([]string, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		out = append(out, l)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if out == nil {
		return nil, errors.New("empty")
	}
	return out, nil
}

// appDialectOf returns the app dialect: name when given, else twilio under
// the twilio stream dialect and carrierx otherwise.
func appDialectOf(name, streamDialect string) (webhook.Dialect, error) {
	if name == "" {
		if streamDialect == "twilio" {
			return webhook.Twilio, nil
		}
		return webhook.CarrierX, nil
	}
	d, err := webhook.ParseDialect(name)
	if err != nil {
		return d, fmt.Errorf("--app-dialect: %w", err)
	}
	return d, nil
}

// readAuthToken returns the auth token: token, or the first line of file;
// not both.
func readAuthToken(token, file string) (string, error) {
	token = strings.TrimSpace(token)
	if file == "" {
		return token, nil
	}
	if token != "" {
		return "", errors.New("--auth-token and --auth-token-file: give one")
	}
	lines, err := readLines(file)
	if err != nil {
		return "", fmt.Errorf("--auth-token-file: %w", err)
	}
	return lines[0], nil
}
