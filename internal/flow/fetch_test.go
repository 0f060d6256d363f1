package flow

import "testing"

func TestResolveWS(t *testing.T) {
	for _, tc := range []struct{ base, ref, want string }{
		{"http://app.example/flexml/start.xml", "wss://media.example/s", "wss://media.example/s"},
		{"http://app.example/flexml/start.xml", "WSS://Media.example/s", "wss://Media.example/s"},
		{"http://app.example/flexml/start.xml", "Ws://media.example:8080/s", "ws://media.example:8080/s"},
		{"http://app.example/flexml/start.xml", "/media", "ws://app.example/media"},
		{"http://app.example/flexml/start.xml", "media", "ws://app.example/flexml/media"},
		{"https://app.example:8443/flexml/start.xml", "../stream/in", "wss://app.example:8443/stream/in"},
		{"HTTPS://app.example/a/b.xml", "c", "wss://app.example/a/c"},
	} {
		got, err := resolveWS(tc.base, tc.ref)
		if err != nil || got != tc.want {
			t.Errorf("resolveWS(%q, %q) = %q, %v; want %q", tc.base, tc.ref, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ base, ref string }{
		{"/srv/app.xml", "/media"}, // a document read from a file has no host to resolve against
		{"", "media"},
	} {
		if got, err := resolveWS(tc.base, tc.ref); err == nil {
			t.Errorf("resolveWS(%q, %q) = %q, want an error", tc.base, tc.ref, got)
		}
	}
}
