package limit

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"testing"
)

// Every Refusal constant declared in this package is in All, once, so
// that every limit shows in metrics from the start.
func TestAllListsEveryRefusal(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var declared []string
	for _, name := range files {
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, spec := range g.Specs {
				vs := spec.(*ast.ValueSpec)
				if id, ok := vs.Type.(*ast.Ident); ok && id.Name == "Refusal" {
					for _, n := range vs.Names {
						declared = append(declared, n.Name)
					}
				}
			}
		}
	}
	if len(declared) == 0 {
		t.Fatal("no Refusal constants found")
	}
	all := All()
	if len(all) != len(declared) {
		t.Fatalf("All has %d refusals, %d are declared: %v", len(all), len(declared), declared)
	}
	seen := map[Refusal]bool{}
	for _, r := range all {
		if r == "" || seen[r] {
			t.Fatalf("All: %q empty or listed twice", r)
		}
		seen[r] = true
	}
	if !slices.Contains(all, Draining) {
		t.Fatal("All lacks Draining")
	}
}
