package nodeid

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var (
	uuidV4    = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	twilioSid = regexp.MustCompile(`^CA[0-9a-f]{32}$`)
)

func TestCheck(t *testing.T) {
	for _, id := range []string{"a", "b", "node-1", "0123456789abcdef", "edge-eu-3"} {
		if err := Check(id); err != nil {
			t.Errorf("Check(%q) = %v, want nil", id, err)
		}
	}
	for id, want := range map[string]string{
		"":                  "empty",
		"0123456789abcdefg": "17 characters",
		"Node":              `character 1 ('N')`,
		"a_b":               `character 2 ('_')`,
		"a.b":               `character 2 ('.')`,
	} {
		err := Check(id)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Check(%q) = %v, want an error naming %q", id, err, want)
		}
	}
}

func TestFromHost(t *testing.T) {
	for host, want := range map[string]string{
		"gw1":                          "gw1",
		"GW-East.example.com":          "gw-east",
		"3f2a9c1b7d04":                 "3f2a9c1b7d04", // a container's host name
		"a-very-long-host-name-indeed": "a-very-long-host",
		"callstream_node_two":          "callstream-node",
		"---":                          "node",
		"":                             "node",
		"ab-cdefghijklmn-.example":     "ab-cdefghijklmn",
		"ümlaut":                       "mlaut",
	} {
		got := FromHost(host)
		if got != want {
			t.Errorf("FromHost(%q) = %q, want %q", host, got, want)
		}
		if err := Check(got); err != nil {
			t.Errorf("FromHost(%q) = %q, not a valid id: %v", host, got, err)
		}
	}
	if err := Check(Default()); err != nil {
		t.Errorf("Default() = %q: %v", Default(), err)
	}
}

func TestSidsCarryTheirNode(t *testing.T) {
	fleet := []string{"a", "b", "node-3"}
	if err := CheckFleet(fleet); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, id := range fleet {
		for range 200 {
			for _, sid := range []string{NewUUIDSid(id), NewTwilioSid(id)} {
				if !uuidV4.MatchString(sid) && !twilioSid.MatchString(sid) {
					t.Fatalf("sid %q: neither a version 4 UUID nor CA and 32 hex digits", sid)
				}
				if seen[sid] {
					t.Fatalf("sid %q made twice", sid)
				}
				seen[sid] = true
				if got, ok := NodeOf(sid, fleet); !ok || got != id {
					t.Fatalf("NodeOf(%q) = %q, %v; want %q", sid, got, ok, id)
				}
				if got, ok := NodeOf(strings.ToUpper(sid[:1])+sid[1:], fleet); !ok || got != id {
					t.Fatalf("NodeOf(%q) in upper case = %q, %v; want %q", sid, got, ok, id)
				}
			}
		}
	}
	// The tag sits in the first 4 hex digits.
	if sid := NewUUIDSid("a"); sid[:4] != Tag("a") {
		t.Errorf("UUID sid %q does not start with the tag %s", sid, Tag("a"))
	}
	if sid := NewTwilioSid("a"); sid[2:6] != Tag("a") {
		t.Errorf("Twilio sid %q does not carry the tag %s after CA", sid, Tag("a"))
	}
}

func TestNodeOfUnknown(t *testing.T) {
	fleet := []string{"a", "b"}
	for _, sid := range []string{"", "CA123", "not-a-sid", "MZ" + strings.Repeat("0", 32),
		"CA" + strings.Repeat("g", 32), strings.Repeat("x", 36), NewUUIDSid("c")} {
		if got, ok := NodeOf(sid, fleet); ok {
			t.Errorf("NodeOf(%q) = %q, want no node", sid, got)
		}
	}
}

func TestCheckFleet(t *testing.T) {
	if err := CheckFleet([]string{"a", "b", "a"}); err == nil || !strings.Contains(err.Error(), `"a" is given twice`) {
		t.Errorf("a repeated id: %v", err)
	}
	if err := CheckFleet([]string{"a", "B"}); err == nil || !strings.Contains(err.Error(), `"B"`) {
		t.Errorf("an invalid id: %v", err)
	}
	// Find two ids whose tags collide and check they are refused.
	byTag := map[string]string{}
	for i := 0; ; i++ {
		id := "n" + strings.Repeat("x", i%3) + strconv.Itoa(i)
		if other, ok := byTag[Tag(id)]; ok {
			err := CheckFleet([]string{other, id})
			if err == nil || !strings.Contains(err.Error(), "share the CallSid tag") {
				t.Fatalf("ids %q and %q with one tag: %v", other, id, err)
			}
			return
		}
		byTag[Tag(id)] = id
	}
}
