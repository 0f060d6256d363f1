// Package fetch is the one HTTP client and dialer the gateway uses for
// everything it fetches or dials on an app's behalf: FlexML documents after
// the first, <Play> audio, <Redirect>s, stream status callbacks, stream
// WebSockets, and a scenario's HTTP requests, players and WebSockets.
//
// Every address dialed is checked against a URL policy after DNS resolution,
// on the address actually dialed (so DNS rebinding and every HTTP redirect
// hop are covered), and every redirect URL is checked before it is followed.
// The operator's own app (the origin of --app) is trusted and not checked.
//
// The package also keeps the Play cache: audio fetched by URL, decoded once
// and shared read-only by every call that plays it.
package fetch

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
)

// ErrRefused is wrapped by every error of an address the policy refused.
var ErrRefused = errors.New("fetch: address refused by the URL policy")

// Rule names the policy rule that refused an address.
type Rule uint8

// The policy's rules, in the order they are checked.
const (
	// RuleLinkLocal refuses link-local (169.254.0.0/16, fe80::/10) and
	// cloud-metadata addresses, always.
	RuleLinkLocal Rule = iota + 1
	// RuleSpecial refuses unspecified, multicast and broadcast addresses,
	// always.
	RuleSpecial
	// RuleOwnListener refuses the gateway's own listeners, always.
	RuleOwnListener
	// RuleDenied refuses the networks of the deny list (--url-deny).
	RuleDenied
	// RulePrivate refuses loopback and private addresses when the policy
	// denies private addresses (--deny-private-urls).
	RulePrivate
)

// String says what the rule refuses, as error messages put it.
func (r Rule) String() string {
	switch r {
	case RuleLinkLocal:
		return "link-local and cloud-metadata addresses are refused"
	case RuleSpecial:
		return "unspecified, multicast and broadcast addresses are refused"
	case RuleOwnListener:
		return "the gateway's own listeners are refused"
	case RuleDenied:
		return "addresses in --url-deny are refused"
	case RulePrivate:
		return "loopback and private addresses are refused (--deny-private-urls)"
	}
	return fmt.Sprintf("Rule(%d)", uint8(r))
}

// RefusedError is the policy refusing one address. It wraps ErrRefused.
type RefusedError struct {
	Addr   netip.AddrPort // the address refused (port 0 when only the IP was checked)
	Rule   Rule
	Prefix netip.Prefix // RuleDenied: the deny-list network the address is in
}

// Error says which rule refused which address, e.g. "fetch: 169.254.169.254:
// link-local and cloud-metadata addresses are refused".
func (e *RefusedError) Error() string {
	addr := e.Addr.Addr().String()
	if e.Rule == RuleOwnListener && e.Addr.Port() != 0 {
		addr = e.Addr.String()
	}
	if e.Rule == RuleDenied && e.Prefix.IsValid() {
		return fmt.Sprintf("fetch: %s: addresses in --url-deny (%s) are refused", addr, e.Prefix)
	}
	return fmt.Sprintf("fetch: %s: %s", addr, e.Rule)
}

// Unwrap returns ErrRefused.
func (e *RefusedError) Unwrap() error { return ErrRefused }

// PolicyConfig configures a Policy.
type PolicyConfig struct {
	// Allow lists networks allowed even when DenyPrivate would refuse them
	// (never the always-refused ones).
	Allow []netip.Prefix
	// Deny lists networks always refused.
	Deny []netip.Prefix
	// DenyPrivate also refuses loopback, RFC 1918, 100.64.0.0/10 (shared
	// address space) and fc00::/7 (unique local) addresses.
	DenyPrivate bool
}

// Policy decides which addresses the gateway may reach on an app's behalf.
// Its lists are fixed at NewPolicy; the gateway's own listeners are added as
// they are bound (AddOwn). Safe for concurrent use.
type Policy struct {
	allow, deny []netip.Prefix
	denyPrivate bool

	mu  sync.Mutex // serializes AddOwn and AddLocal
	own atomic.Pointer[ownSet]
}

// ownSet is the gateway's own listeners, replaced whole on every change.
type ownSet struct {
	exact map[netip.AddrPort]struct{} // listeners on one address
	ports map[uint16]struct{}         // listeners on every address (0.0.0.0 or ::)
	local map[netip.Addr]struct{}     // this host's addresses, besides loopback
}

// NewPolicy returns a policy with cfg's lists.
func NewPolicy(cfg PolicyConfig) *Policy {
	p := &Policy{
		allow:       normalize(cfg.Allow),
		deny:        normalize(cfg.Deny),
		denyPrivate: cfg.DenyPrivate,
	}
	p.own.Store(&ownSet{})
	return p
}

// normalize unmaps IPv4-mapped prefixes so IPv4 addresses match them.
func normalize(ps []netip.Prefix) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(ps))
	for _, p := range ps {
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out
}

// AddOwn adds listeners of the gateway ("ip:port", as a listener's Addr
// gives it) that fetches and dials may never reach: a listener on 0.0.0.0
// or :: stands for its port on every address of this host. Empty strings
// and port 0 are skipped; a host that is not an IP address is an error.
func (p *Policy) AddOwn(hostports ...string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	cur := p.own.Load()
	next := cur.clone()
	var errs []error
	for _, hp := range hostports {
		if hp == "" {
			continue
		}
		ap, err := netip.ParseAddrPort(hp)
		if err != nil {
			errs = append(errs, fmt.Errorf("fetch: own listener %q: %w", hp, err))
			continue
		}
		if ap.Port() == 0 {
			continue
		}
		if a := ap.Addr().Unmap(); a.IsUnspecified() {
			next.ports[ap.Port()] = struct{}{}
			if len(next.local) == 0 {
				for _, a := range interfaceAddrs() {
					next.local[a] = struct{}{}
				}
			}
		} else {
			next.exact[netip.AddrPortFrom(a.WithZone(""), ap.Port())] = struct{}{}
		}
	}
	p.own.Store(next)
	return errors.Join(errs...)
}

// AddLocal adds addresses of this host beyond those of its interfaces (a
// public address behind NAT): a listener on 0.0.0.0 or :: is refused on
// them too.
func (p *Policy) AddLocal(addrs ...netip.Addr) {
	p.mu.Lock()
	defer p.mu.Unlock()
	next := p.own.Load().clone()
	for _, a := range addrs {
		if a.IsValid() {
			next.local[a.Unmap().WithZone("")] = struct{}{}
		}
	}
	p.own.Store(next)
}

func (s *ownSet) clone() *ownSet {
	n := &ownSet{exact: map[netip.AddrPort]struct{}{}, ports: map[uint16]struct{}{}, local: map[netip.Addr]struct{}{}}
	for k := range s.exact {
		n.exact[k] = struct{}{}
	}
	for k := range s.ports {
		n.ports[k] = struct{}{}
	}
	for k := range s.local {
		n.local[k] = struct{}{}
	}
	return n
}

// interfaceAddrs returns the addresses of this host's interfaces.
func interfaceAddrs() []netip.Addr {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				out = append(out, ip.Unmap())
			}
		}
	}
	return out
}

// isOwn reports whether a (unmapped, no zone) at port is one of the
// gateway's listeners.
func (s *ownSet) isOwn(a netip.Addr, port uint16) bool {
	if _, ok := s.exact[netip.AddrPortFrom(a, port)]; ok {
		return true
	}
	if _, ok := s.ports[port]; ok {
		if a.IsLoopback() {
			return true
		}
		if _, ok := s.local[a]; ok {
			return true
		}
	}
	return false
}

// Addresses the always-refused rules name.
var (
	linkLocal = []netip.Prefix{
		netip.MustParsePrefix("169.254.0.0/16"), // IPv4 link-local; AWS, GCP, Azure, Oracle metadata
		netip.MustParsePrefix("fe80::/10"),
	}
	// cloudMetadata are metadata and platform services outside the
	// link-local ranges (169.254.169.254 and 169.254.170.2 are inside them).
	cloudMetadata = []netip.Prefix{
		netip.MustParsePrefix("fd00:ec2::254/128"),  // AWS over IPv6
		netip.MustParsePrefix("fd20:ce::254/128"),   // Google Cloud over IPv6
		netip.MustParsePrefix("100.100.100.200/32"), // Alibaba Cloud
		netip.MustParsePrefix("168.63.129.16/32"),   // Azure platform (WireServer)
		netip.MustParsePrefix("192.0.0.192/32"),     // Oracle Cloud (classic)
	}
	special = []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/8"), // "this network": 0.0.0.0 dials the local host
		netip.MustParsePrefix("224.0.0.0/4"),
		netip.MustParsePrefix("255.255.255.255/32"),
		netip.MustParsePrefix("::/128"),
		netip.MustParsePrefix("ff00::/8"),
	}
	private = []netip.Prefix{
		netip.MustParsePrefix("127.0.0.0/8"),
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("172.16.0.0/12"),
		netip.MustParsePrefix("192.168.0.0/16"),
		netip.MustParsePrefix("100.64.0.0/10"), // shared address space (carrier-grade NAT)
		netip.MustParsePrefix("::1/128"),
		netip.MustParsePrefix("fc00::/7"),  // unique local
		netip.MustParsePrefix("fec0::/10"), // site-local (deprecated)
	}
	// nat64 is the well-known NAT64 prefix: its addresses reach the IPv4
	// address in their last 32 bits.
	nat64 = netip.MustParsePrefix("64:ff9b::/96")
)

func inAny(a netip.Addr, ps []netip.Prefix) (netip.Prefix, bool) {
	for _, p := range ps {
		if p.Contains(a) {
			return p, true
		}
	}
	return netip.Prefix{}, false
}

// Check returns nil when the policy allows dialing ap, else a
// *RefusedError saying which rule refused it. An IPv4-mapped IPv6 address
// is checked as its IPv4 address; a NAT64 address (64:ff9b::/96) is checked
// both as itself and as the IPv4 address it reaches.
func (p *Policy) Check(ap netip.AddrPort) error {
	a := ap.Addr().Unmap().WithZone("")
	if err := p.check(a, ap.Port()); err != nil {
		return err
	}
	if a.Is6() && nat64.Contains(a) {
		b := a.As16()
		v4 := netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
		if err := p.check(v4, ap.Port()); err != nil {
			return err
		}
	}
	return nil
}

// CheckAddr checks an address whatever its port.
func (p *Policy) CheckAddr(a netip.Addr) error { return p.Check(netip.AddrPortFrom(a, 0)) }

func (p *Policy) check(a netip.Addr, port uint16) error {
	refuse := func(r Rule) error { return &RefusedError{Addr: netip.AddrPortFrom(a, port), Rule: r} }
	if !a.IsValid() {
		return refuse(RuleSpecial)
	}
	if _, ok := inAny(a, linkLocal); ok {
		return refuse(RuleLinkLocal)
	}
	if _, ok := inAny(a, cloudMetadata); ok {
		return refuse(RuleLinkLocal)
	}
	if _, ok := inAny(a, special); ok || a.IsMulticast() || a.IsUnspecified() {
		return refuse(RuleSpecial)
	}
	if port != 0 && p.own.Load().isOwn(a, port) {
		return refuse(RuleOwnListener)
	}
	if pre, ok := inAny(a, p.deny); ok {
		return &RefusedError{Addr: netip.AddrPortFrom(a, port), Rule: RuleDenied, Prefix: pre}
	}
	if _, ok := inAny(a, p.allow); ok {
		return nil
	}
	if p.denyPrivate {
		if _, ok := inAny(a, private); ok || a.IsLoopback() || a.IsPrivate() {
			return refuse(RulePrivate)
		}
	}
	return nil
}

// String describes the policy for a log line.
func (p *Policy) String() string {
	var b strings.Builder
	b.WriteString("link-local, metadata, special and own listeners refused")
	if p.denyPrivate {
		b.WriteString("; private refused")
	}
	if len(p.deny) > 0 {
		fmt.Fprintf(&b, "; deny %v", p.deny)
	}
	if len(p.allow) > 0 {
		fmt.Fprintf(&b, "; allow %v", p.allow)
	}
	return b.String()
}
