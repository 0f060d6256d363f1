package scenario

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/dop251/goja"
	"github.com/dop251/goja/ast"
	"github.com/dop251/goja/file"
	"github.com/dop251/goja/parser"
)

// Finding is one use of a member callstream lacks.
type Finding struct {
	File      string
	Line, Col int    // of the expression, from 1
	Member    string // as written: "VoxEngine.createFoo", "e.call.record"
}

// Pos is the finding's place as file:line:col.
func (f Finding) Pos() string { return fmt.Sprintf("%s:%d:%d", f.File, f.Line, f.Col) }

func (f Finding) String() string {
	return f.Pos() + ": " + f.Member + " is not implemented by callstream"
}

// CheckReport is what Check found in a scenario.
type CheckReport struct {
	// Used is how many distinct API members the scenario uses that
	// callstream implements.
	Used int
	// Missing is every use of a member callstream lacks, in source order.
	Missing []Finding
	// LoadErrors are the errors the scenario's top level (and its
	// AppEvents.Started handlers) threw in a sandbox, each as
	// "file:line:col: message".
	LoadErrors []string
}

// OK reports whether the scenario uses only what callstream implements
// and loads without an error.
func (r *CheckReport) OK() bool { return len(r.Missing) == 0 && len(r.LoadErrors) == 0 }

// Check checks the scenario src (named name) against the runtime without
// a call: it parses it (a syntax error is returned as
// "file:line:col: SyntaxError: message", wrapping ErrScript), scans every
// member access on the API's globals (VoxEngine.x, CallEvents.x, ...) and
// every method call (call.x(...)) for names the runtime lacks, and runs
// the top level in a session whose network is refused and whose
// VoxEngine.customData() is customData.
func Check(name, src, customData string) (*CheckReport, error) {
	tree, err := parser.ParseFile(nil, name, src, 0)
	if err != nil {
		var list parser.ErrorList
		if errors.As(err, &list) && len(list) > 0 {
			p := list[0].Position
			return nil, fmt.Errorf("%w: %s:%d:%d: SyntaxError: %s", ErrScript, name, p.Line, p.Column, list[0].Message)
		}
		return nil, fmt.Errorf("%w: %s: %w", ErrScript, name, err)
	}
	if _, err := goja.CompileAST(tree, false); err != nil {
		var cse *goja.CompilerSyntaxError
		if errors.As(err, &cse) && cse.File != nil {
			p := cse.File.Position(cse.Offset)
			return nil, fmt.Errorf("%w: %s:%d:%d: SyntaxError: %s", ErrScript, name, p.Line, p.Column, cse.Message)
		}
		return nil, fmt.Errorf("%w: %s: %w", ErrScript, name, err)
	}
	sf, err := APISurface()
	if err != nil {
		return nil, err
	}
	report := scan(tree, src, sf)
	report.LoadErrors, err = loadErrors(name, src, customData)
	if err != nil {
		return nil, err
	}
	return report, nil
}

// scan compares the member accesses of the program with the surface.
func scan(tree *ast.Program, src string, sf *Surface) *CheckReport {
	methods := builtinMethods()
	// A member that exists only to refuse (VoxEngine.createASR,
	// call.transferTo) is one callstream lacks.
	for _, t := range sf.Types {
		for _, m := range t.Members {
			if m.NotSupported == "" {
				methods[m.Name] = true
			}
		}
	}
	for _, g := range sf.Globals {
		for _, m := range g.Items {
			if m.NotSupported == "" {
				methods[m.Name] = true
			}
		}
	}
	defined := map[string]bool{}  // member names the script gives values
	declared := map[string]bool{} // variables, functions and classes the script declares
	declare := func(target any) {
		if id, ok := target.(*ast.Identifier); ok && id != nil {
			declared[string(id.Name)] = true
		}
	}
	var dots []*ast.DotExpression
	callees := map[*ast.DotExpression]bool{}
	walkAST(reflect.ValueOf(tree), func(n any) {
		switch n := n.(type) {
		case *ast.DotExpression:
			dots = append(dots, n)
		case *ast.CallExpression:
			if d, ok := n.Callee.(*ast.DotExpression); ok {
				callees[d] = true
			}
		case *ast.AssignExpression:
			if d, ok := n.Left.(*ast.DotExpression); ok {
				defined[string(d.Identifier.Name)] = true
			}
			declare(n.Left)
		case *ast.Binding:
			declare(n.Target)
		case *ast.CatchStatement:
			declare(n.Parameter)
		case *ast.ParameterList:
			declare(n.Rest)
		case *ast.ArrayPattern:
			for _, e := range n.Elements {
				declare(e)
			}
		case *ast.FunctionLiteral:
			if n.Name != nil {
				declare(n.Name)
			}
		case *ast.ClassLiteral:
			if n.Name != nil {
				declare(n.Name)
			}
		case *ast.PropertyKeyed:
			if k, ok := n.Key.(*ast.StringLiteral); ok {
				defined[string(k.Value)] = true
			}
		case *ast.PropertyShort:
			defined[string(n.Name.Name)] = true
			declared[string(n.Name.Name)] = true
		case *ast.MethodDefinition:
			if k, ok := n.Key.(*ast.StringLiteral); ok {
				defined[string(k.Value)] = true
			}
		case *ast.FunctionDeclaration:
			if n.Function != nil && n.Function.Name != nil {
				defined[string(n.Function.Name.Name)] = true
			}
		}
	})
	r := &CheckReport{}
	used := map[string]bool{}
	base := tree.File.Base()
	text := func(e ast.Node) string {
		from, to := int(e.Idx0())-base, int(e.Idx1())-base
		if from < 0 || to > len(src) || from > to {
			return "?"
		}
		return src[from:to]
	}
	for _, d := range dots {
		member := string(d.Identifier.Name)
		if root, ok := d.Left.(*ast.Identifier); ok {
			if g, ok := sf.Global(string(root.Name)); ok && g.Kind == KindObject {
				key := g.Name + "." + member
				if it, ok := g.Item(member); ok && it.NotSupported == "" || defined[member] {
					used[key] = true
				} else {
					r.Missing = append(r.Missing, finding(tree.File, d.Idx0(), key))
				}
				continue
			}
			if name := string(root.Name); isGlobalName(name) && !declared[name] && !isBuiltin(name) {
				if _, ok := sf.Global(name); !ok {
					// A global the runtime does not define (Language,
					// ASRProfileList): a ReferenceError when it runs.
					r.Missing = append(r.Missing, finding(tree.File, d.Idx0(), name+"."+member))
					continue
				}
			}
		}
		if !callees[d] {
			continue // a property read: event fields, data
		}
		if methods[member] || defined[member] {
			if !isBuiltin(member) {
				used["."+member] = true
			}
			continue
		}
		r.Missing = append(r.Missing, finding(tree.File, d.Idx0(), text(d.Left)+"."+member))
	}
	r.Used = len(used)
	slices.SortStableFunc(r.Missing, func(a, b Finding) int {
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return a.Col - b.Col
	})
	return r
}

// isGlobalName reports a name written as VoxEngine's globals are: an
// initial capital (CallEvents, Language, ASRProfileList).
func isGlobalName(name string) bool {
	return name != "" && name[0] >= 'A' && name[0] <= 'Z'
}

// finding is a use of member at idx.
func finding(f *file.File, idx file.Idx, member string) Finding {
	p := f.Position(int(idx) - f.Base())
	return Finding{File: f.Name(), Line: p.Line, Col: p.Column, Member: member}
}

var (
	builtinOnce  sync.Once
	builtinNames map[string]bool
)

// builtinMethods returns the names of JavaScript's own methods (those of
// every built-in object and of its prototype), a fresh map.
func builtinMethods() map[string]bool {
	builtinOnce.Do(func() {
		builtinNames = map[string]bool{}
		vm := goja.New()
		g := vm.GlobalObject()
		add := func(o *goja.Object) {
			if o == nil {
				return
			}
			for _, k := range o.GetOwnPropertyNames() {
				builtinNames[k] = true
			}
		}
		for _, name := range g.GetOwnPropertyNames() {
			builtinNames[name] = true
			o := asObject(g.Get(name))
			add(o)
			if o != nil {
				add(asObject(o.Get("prototype")))
			}
		}
		add(vm.NewObject().Prototype())
	})
	return maps.Clone(builtinNames)
}

func isBuiltin(name string) bool {
	builtinMethods()
	return builtinNames[name]
}

var (
	nodeType  = reflect.TypeOf((*ast.Node)(nil)).Elem()
	fileIdxTy = reflect.TypeOf(file.Idx(0))
)

// walkAST calls visit for every node under v, parents first.
func walkAST(v reflect.Value, visit func(any)) {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return
		}
		if v.Type().Implements(nodeType) {
			visit(v.Interface())
		}
		if v.Elem().Kind() == reflect.Struct {
			walkAST(v.Elem(), visit)
		}
	case reflect.Interface:
		if !v.IsNil() {
			walkAST(v.Elem(), visit)
		}
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(file.File{}) {
			return
		}
		for i := range v.NumField() {
			f := v.Field(i)
			if f.CanInterface() && f.Type() != fileIdxTy {
				walkAST(f, visit)
			}
		}
	case reflect.Slice:
		for i := range v.Len() {
			walkAST(v.Index(i), visit)
		}
	}
}

// loadErrors runs the scenario's top level in a sandbox session and
// returns the script errors it logged, as "file:line:col: message".
func loadErrors(name, src, customData string) ([]string, error) {
	h := &errorRecords{}
	err := sandboxSession(name, src, customData, slog.New(h), func(*session) {})
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return nil, err
	}
	out := h.list()
	for i, e := range out {
		if b := filepath.Base(name); b != name && strings.HasPrefix(e, b+":") {
			out[i] = name + e[len(b):]
		}
	}
	return out, nil
}

// errorRecords keeps the script errors a session logs: ERROR records with
// the place the script threw ("at").
type errorRecords struct {
	mu   sync.Mutex
	errs []string
}

func (h *errorRecords) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelError }

func (h *errorRecords) Handle(_ context.Context, r slog.Record) error {
	var at, msg string
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "at":
			at = a.Value.String()
		case "err":
			msg = a.Value.String()
		}
		return true
	})
	if at == "" {
		return nil
	}
	h.mu.Lock()
	h.errs = append(h.errs, at+": error at load: "+msg)
	h.mu.Unlock()
	return nil
}

func (h *errorRecords) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *errorRecords) WithGroup(string) slog.Handler      { return h }

func (h *errorRecords) list() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.errs...)
}
