package fleet

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/callstream/callstream/internal/cluster"
)

// deployDir is the deployment files' folder, from this package's.
const deployDir = "../../deploy"

// yamlTree is a YAML document read only as far as its mapping keys go:
// each key's dotted path (list items as "-") and its scalar value, if any.
// It is the structural check of files this project writes, not a parser
// of YAML in general: anchors, merges and flow values stay text.
type yamlTree map[string]string

// readYAML reads file into a yamlTree and fails on what would make YAML
// reject it or change its shape: tabs in indentation, a line indented
// deeper than any open key allows, a key given twice.
func readYAML(t *testing.T, file string) yamlTree {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var stack []yamlLevel
	tree := yamlTree{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimLeft(line, " ")
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if strings.HasPrefix(trimmed, "\t") {
			t.Fatalf("%s:%d: a tab in the indentation", file, n)
		}
		indent := len(line) - len(trimmed)
		for len(stack) > 0 && stack[len(stack)-1].indent >= indent {
			stack = stack[:len(stack)-1]
		}
		if strings.HasPrefix(trimmed, "- ") || trimmed == "-" {
			stack = append(stack, yamlLevel{indent, "-"})
			trimmed = strings.TrimSpace(strings.TrimPrefix(trimmed, "-"))
			indent += 2
			if trimmed == "" {
				continue
			}
		}
		key, value, ok := strings.Cut(trimmed, ":")
		if !ok || !yamlKey.MatchString(key) || value != "" && value[0] != ' ' {
			// A list item's scalar: record it under the list.
			path := pathOf(stack, "")
			tree[path] += trimmed + "\n"
			continue
		}
		path := pathOf(stack, key)
		if _, dup := tree[path]; dup && !strings.Contains(path, "-") {
			t.Fatalf("%s:%d: key %s given twice", file, n, path)
		}
		tree[path] = strings.TrimSpace(value)
		stack = append(stack, yamlLevel{indent, key})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return tree
}

// yamlKey is a mapping key as this project's YAML files write them
// (merge keys included); other text before a colon is a scalar's.
var yamlKey = regexp.MustCompile(`^[A-Za-z_<][A-Za-z0-9_.<-]*$`)

// yamlLevel is an open key of readYAML and its indentation.
type yamlLevel struct {
	indent int
	key    string
}

// pathOf is the dotted path of key under the open keys of stack.
func pathOf(stack []yamlLevel, key string) string {
	parts := make([]string, 0, len(stack)+1)
	for _, l := range stack {
		parts = append(parts, l.key)
	}
	if key != "" {
		parts = append(parts, key)
	}
	return strings.Join(parts, ".")
}

// children returns the keys right under path.
func (y yamlTree) children(path string) []string {
	var out []string
	for p := range y {
		rest, ok := strings.CutPrefix(p, path+".")
		if ok && !strings.Contains(rest, ".") {
			out = append(out, rest)
		}
	}
	slices.Sort(out)
	return out
}

// The compose file starts Kamailio, two nodes, Prometheus and Grafana;
// what it mounts exists; the nodes' SIP addresses are those of Kamailio's
// dispatcher list and Prometheus scrapes both nodes.
func TestComposeFile(t *testing.T) {
	compose := readYAML(t, filepath.Join(deployDir, "compose.yaml"))
	want := []string{"callstream-a", "callstream-b", "grafana", "kamailio", "prometheus"}
	if got := compose.children("services"); !slices.Equal(got, want) {
		t.Fatalf("services %v, want %v", got, want)
	}
	var nodeSIP []string
	for _, id := range []string{"a", "b"} {
		svc := "services.callstream-" + id
		if got := compose[svc+".<<"]; got != "*node" {
			t.Errorf("%s does not merge the node template (<<: *node): %q", svc, got)
		}
		if got := compose[svc+".environment.CALLSTREAM_NODE_ID"]; got != id {
			t.Errorf("%s: CALLSTREAM_NODE_ID %q, want %q", svc, got, id)
		}
		sip := compose[svc+".environment.CALLSTREAM_SIP"]
		ip := compose[svc+".networks.callstream.ipv4_address"]
		if !strings.HasPrefix(sip, ip+":") || ip == "" {
			t.Errorf("%s: CALLSTREAM_SIP %q is not on its address %q", svc, sip, ip)
		}
		nodeSIP = append(nodeSIP, "sip:"+sip)
		// The node knows the fleet: the other node at its address and
		// HTTP port.
		peers, err := cluster.Parse(id, compose[svc+".environment.CALLSTREAM_PEERS"])
		other := map[string]string{"a": "b", "b": "a"}[id]
		otherIP := compose["services.callstream-"+other+".networks.callstream.ipv4_address"]
		if err != nil || len(peers) != 1 || peers[0] != (cluster.Peer{ID: other, URL: "http://" + otherIP + ":8780"}) {
			t.Errorf("%s: CALLSTREAM_PEERS %q gives %+v (%v), want node %s at http://%s:8780",
				svc, compose[svc+".environment.CALLSTREAM_PEERS"], peers, err, other, otherIP)
		}
	}
	for path, want := range map[string]string{
		"x-node.build.dockerfile":         "Dockerfile",
		"x-node.build.context":            "..",
		"services.kamailio.build.context": "kamailio",
	} {
		if got := compose[path]; got != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}
	if _, ok := compose["x-node.healthcheck.test"]; !ok {
		t.Error("the node template has no healthcheck")
	}
	// Every file or folder mounted exists.
	mounts := 0
	for path, v := range compose {
		if !strings.HasSuffix(path, ".volumes.-") {
			continue
		}
		for _, item := range strings.Split(strings.TrimSpace(v), "\n") {
			src, _, _ := strings.Cut(item, ":")
			mounts++
			if _, err := os.Stat(filepath.Join(deployDir, src)); err != nil {
				t.Errorf("%s mounts %s: %v", path, src, err)
			}
		}
	}
	if mounts != 4 { // examples (the node template), prometheus.yml, Grafana's provisioning and dashboard
		t.Errorf("%d volumes mounted, want 4", mounts)
	}
	// Kamailio sends calls to the compose file's nodes.
	list, err := os.ReadFile(filepath.Join(deployDir, "kamailio", "dispatcher.list"))
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, line := range strings.Split(string(list), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "1" {
			listed = append(listed, f[1])
		}
	}
	if !slices.Equal(listed, nodeSIP) {
		t.Errorf("dispatcher.list nodes %v, the compose file's %v", listed, nodeSIP)
	}
	// Prometheus scrapes both nodes on the HTTP port the image listens on.
	prom := readYAML(t, filepath.Join(deployDir, "prometheus.yml"))
	targets := prom["scrape_configs.-.static_configs.-.targets"]
	for _, node := range []string{"callstream-a:8780", "callstream-b:8780"} {
		if !strings.Contains(targets, `"`+node+`"`) {
			t.Errorf("prometheus.yml targets %s: %s missing", targets, node)
		}
	}
	// Grafana gets Prometheus as a data source and the dashboard.
	ds := readYAML(t, filepath.Join(deployDir, "grafana", "provisioning", "datasources", "prometheus.yaml"))
	if got := ds["datasources.-.url"]; got != "http://prometheus:9090" {
		t.Errorf("grafana data source url %q", got)
	}
	dash := readYAML(t, filepath.Join(deployDir, "grafana", "provisioning", "dashboards", "callstream.yaml"))
	if got := dash["providers.-.options.path"]; !strings.Contains(compose["services.grafana.volumes.-"], "callstream.json:"+got+"/") {
		t.Errorf("the dashboards folder %q does not hold the mounted callstream.json", got)
	}
}

// The Dockerfile builds a static binary in a build stage and runs it as a
// user other than root, with a health check on /healthz.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(deployDir, "..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var froms, users []string
	var build, health, copyFrom bool
	expose := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch f[0] {
		case "FROM":
			froms = append(froms, line)
		case "USER":
			users = append(users, f[1])
		case "RUN":
			if strings.Contains(line, "CGO_ENABLED=0 go build") {
				build = true
			}
		case "COPY":
			copyFrom = copyFrom || strings.HasPrefix(f[1], "--from=")
		case "HEALTHCHECK":
			health = true
		case "EXPOSE":
			for _, p := range f[1:] {
				expose[p] = true
			}
		}
		if strings.Contains(line, "/healthz") && !health {
			t.Errorf("/healthz outside the HEALTHCHECK: %q", line)
		}
	}
	if len(froms) < 2 || !copyFrom {
		t.Errorf("not a multi-stage build: %d FROM lines, COPY --from %v", len(froms), copyFrom)
	}
	if !build {
		t.Error("no RUN CGO_ENABLED=0 go build")
	}
	if len(users) == 0 || slices.ContainsFunc(users, func(u string) bool { return u == "root" || u == "0" || strings.HasPrefix(u, "0:") }) {
		t.Errorf("USER %v: want a user other than root", users)
	}
	if !health || !strings.Contains(string(b), "http://127.0.0.1:8780/healthz") {
		t.Error("no HEALTHCHECK on http://127.0.0.1:8780/healthz")
	}
	if !strings.Contains(string(b), "CALLSTREAM_HTTP=0.0.0.0:8780") {
		t.Error("the image's HTTP listener is not 0.0.0.0:8780")
	}
	for _, p := range []string{"5060/udp", "5060/tcp", "8780/tcp"} {
		if !expose[p] {
			t.Errorf("EXPOSE lacks %s", p)
		}
	}
}

// TestStaticBuild checks that the image's build (CGO_ENABLED=0, a static
// binary) has everything it needs: with cgo off, every package the
// binary imports still has its Go files and none needs cgo. (Listing the
// packages takes a second; a cold CGO_ENABLED=0 build of the binary takes
// over a minute and proves nothing more about the sources.)
func TestStaticBuild(t *testing.T) {
	cmd := exec.Command("go", "list", "-e", "-deps", "-f", "{{.ImportPath}} {{len .CgoFiles}} {{if .Error}}{{.Error}}{{end}}{{range .DepsErrors}}{{.}}{{end}}", "./cmd/callstream")
	cmd.Dir = filepath.Join(deployDir, "..")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("CGO_ENABLED=0 go list: %v\n%s", err, out)
	}
	pkgs := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			t.Fatalf("go list line %q", line)
		}
		pkgs++
		if f[1] != "0" || len(f) > 2 {
			t.Errorf("with CGO_ENABLED=0, %s: %s cgo files, errors: %s", f[0], f[1], strings.Join(f[2:], " "))
		}
	}
	if pkgs < 50 {
		t.Fatalf("go list named %d packages for the binary", pkgs)
	}
}
