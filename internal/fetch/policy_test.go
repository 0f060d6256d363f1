package fetch

import (
	"errors"
	"net/netip"
	"testing"
)

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// Every rule, and how the lists and --deny-private-urls combine with it.
func TestPolicyRules(t *testing.T) {
	open := PolicyConfig{}
	private := PolicyConfig{DenyPrivate: true}
	allowLoop := PolicyConfig{DenyPrivate: true, Allow: prefixes("127.0.0.1/32", "169.254.0.0/16", "100.64.0.0/10", "::ffff:10.9.0.0/112")}
	deny := PolicyConfig{Deny: prefixes("8.8.0.0/16", "10.0.0.0/8"), Allow: prefixes("10.1.0.0/16")}
	for name, tc := range map[string]struct {
		cfg  PolicyConfig
		addr string
		want Rule // 0: allowed
	}{
		"metadata":                    {open, "169.254.169.254:80", RuleLinkLocal},
		"metadata, allow list":        {allowLoop, "169.254.169.254:80", RuleLinkLocal},
		"link-local":                  {open, "169.254.1.2:80", RuleLinkLocal},
		"link-local v6":               {open, "[fe80::1]:80", RuleLinkLocal},
		"link-local v6 with zone":     {open, "[fe80::1%eth0]:80", RuleLinkLocal},
		"aws metadata v6":             {open, "[fd00:ec2::254]:80", RuleLinkLocal},
		"gcp metadata v6":             {open, "[fd20:ce::254]:80", RuleLinkLocal},
		"alibaba metadata":            {open, "100.100.100.200:80", RuleLinkLocal},
		"alibaba, shared space allow": {allowLoop, "100.100.100.200:80", RuleLinkLocal},
		"azure platform":              {open, "168.63.129.16:80", RuleLinkLocal},
		"mapped metadata":             {open, "[::ffff:169.254.169.254]:80", RuleLinkLocal},
		"nat64 metadata":              {open, "[64:ff9b::a9fe:a9fe]:80", RuleLinkLocal},
		"nat64 private":               {private, "[64:ff9b::a00:1]:80", RulePrivate},
		"unspecified":                 {open, "0.0.0.0:80", RuleSpecial},
		"this network":                {open, "0.1.2.3:80", RuleSpecial},
		"unspecified v6":              {open, "[::]:80", RuleSpecial},
		"multicast":                   {open, "224.0.0.1:80", RuleSpecial},
		"multicast v6":                {open, "[ff02::1]:80", RuleSpecial},
		"broadcast":                   {open, "255.255.255.255:80", RuleSpecial},
		"loopback by default":         {open, "127.0.0.1:9000", 0},
		"loopback v6 by default":      {open, "[::1]:9000", 0},
		"rfc1918 by default":          {open, "192.168.1.10:80", 0},
		"public":                      {private, "93.184.216.34:443", 0},
		"loopback, deny private":      {private, "127.0.0.1:9000", RulePrivate},
		"loopback 127/8":              {private, "127.3.2.1:9000", RulePrivate},
		"loopback v6, deny private":   {private, "[::1]:9000", RulePrivate},
		"10/8":                        {private, "10.1.2.3:80", RulePrivate},
		"172.16/12":                   {private, "172.31.0.1:80", RulePrivate},
		"192.168/16":                  {private, "192.168.0.1:80", RulePrivate},
		"shared 100.64/10":            {private, "100.64.0.1:80", RulePrivate},
		"unique local":                {private, "[fd12:3456::1]:80", RulePrivate},
		"mapped private":              {private, "[::ffff:10.0.0.1]:80", RulePrivate},
		"allowed loopback":            {allowLoop, "127.0.0.1:9000", 0},
		"loopback outside allow":      {allowLoop, "127.0.0.2:9000", RulePrivate},
		"allow given as mapped":       {allowLoop, "10.9.0.7:80", 0},
		"allowed shared space":        {allowLoop, "100.64.0.1:80", 0},
		"denied":                      {deny, "8.8.8.8:53", RuleDenied},
		"deny beats allow":            {deny, "10.1.2.3:80", RuleDenied},
		"outside deny":                {deny, "8.9.8.8:53", 0},
	} {
		t.Run(name, func(t *testing.T) {
			err := NewPolicy(tc.cfg).Check(netip.MustParseAddrPort(tc.addr))
			if tc.want == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var re *RefusedError
			if !errors.As(err, &re) || re.Rule != tc.want || !errors.Is(err, ErrRefused) {
				t.Fatalf("err %v, want refused by %v", err, tc.want)
			}
		})
	}
}

// The error names the address and the rule.
func TestRefusedErrorText(t *testing.T) {
	p := NewPolicy(PolicyConfig{Deny: prefixes("203.0.113.0/24"), DenyPrivate: true})
	if err := p.AddOwn("127.0.0.1:8080"); err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]string{
		"169.254.169.254:80":    "fetch: 169.254.169.254: link-local and cloud-metadata addresses are refused",
		"224.0.0.251:5353":      "fetch: 224.0.0.251: unspecified, multicast and broadcast addresses are refused",
		"127.0.0.1:8080":        "fetch: 127.0.0.1:8080: the gateway's own listeners are refused",
		"203.0.113.9:80":        "fetch: 203.0.113.9: addresses in --url-deny (203.0.113.0/24) are refused",
		"10.0.0.1:80":           "fetch: 10.0.0.1: loopback and private addresses are refused (--deny-private-urls)",
		"[::ffff:10.0.0.1]:443": "fetch: 10.0.0.1: loopback and private addresses are refused (--deny-private-urls)",
	} {
		if err := p.Check(netip.MustParseAddrPort(addr)); err == nil || err.Error() != want {
			t.Errorf("%s: %v, want %q", addr, err, want)
		}
	}
}

// The gateway's own listeners are refused even when an allow list covers
// them; one on 0.0.0.0 or :: stands for its port on every local address.
func TestPolicyOwnListeners(t *testing.T) {
	p := NewPolicy(PolicyConfig{Allow: prefixes("127.0.0.0/8", "203.0.113.0/24")})
	if err := p.AddOwn("127.0.0.1:8080", "", "127.0.0.1:0", "0.0.0.0:5060", "[::]:9100"); err != nil {
		t.Fatal(err)
	}
	p.AddLocal(netip.MustParseAddr("203.0.113.7"))
	for addr, own := range map[string]bool{
		"127.0.0.1:8080":          true,
		"[::ffff:127.0.0.1]:8080": true,
		"127.0.0.1:8081":          false,
		"127.0.0.2:8080":          false, // a listener on one address is that address only
		"127.0.0.5:5060":          true,
		"[::1]:5060":              true,
		"203.0.113.7:5060":        true, // the public address given with AddLocal
		"203.0.113.8:5060":        false,
		"127.0.0.1:9100":          true, // :: takes IPv4 too
		"127.0.0.1:5061":          false,
		"198.51.100.1:5060":       false,
	} {
		err := p.Check(netip.MustParseAddrPort(addr))
		var re *RefusedError
		got := errors.As(err, &re) && re.Rule == RuleOwnListener
		if got != own || (!own && err != nil) {
			t.Errorf("%s: %v, want own=%v", addr, err, own)
		}
	}
	// Port 0 (an address checked without its port) is never a listener.
	if err := p.CheckAddr(netip.MustParseAddr("127.0.0.1")); err != nil {
		t.Errorf("CheckAddr: %v", err)
	}
	if err := p.AddOwn("localhost:80"); err == nil {
		t.Error("AddOwn took a host name")
	}
}
