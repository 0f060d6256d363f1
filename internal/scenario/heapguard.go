package scenario

import (
	"fmt"
	"math"
	"math/big"
	"reflect"
	"strconv"

	"github.com/dop251/goja"
	"github.com/dop251/goja/ast"
	"github.com/dop251/goja/file"
)

// The allocation guards. goja allocates the result of a built-in in one
// native call that no interrupt can stop: 'x'.repeat(2e9) asks Go for
// 2 GB at once, and an array whose length is set (new Array(1e9) costs
// nothing) makes join, fill, JSON.stringify, spread or apply allocate per
// index. Each guard computes what its call would allocate before goja
// does and ends the session (ErrHeapLimit, not catchable) when that is
// over the heap limit. The estimates count one byte per UTF-16 unit of a
// string when it is ASCII (two otherwise) and valueBytes per array element.
//
// What the guards do not see: getters on the elements run twice (once
// for the estimate); toJSON methods and replacer functions are not
// followed by the JSON.stringify estimate; code compiled at run time
// (eval, new Function) is not checked for BigInt literals.

const (
	// valueBytes is what one JavaScript value in an array costs at least.
	valueBytes = 16
	// stringValueBytes is what a short string in an array costs at least.
	stringValueBytes = 32
	// numberTextBytes is the longest text of a number.
	numberTextBytes = 24
	// jsonParseBytes is what one character of JSON text may become.
	jsonParseBytes = 8
	// asciiScan bounds the units scanned to tell an ASCII string.
	asciiScan = 4096
	// maxNesting bounds the nesting of arrays flat and JSON.stringify may
	// walk: goja walks it by recursion in Go.
	maxNesting = 10000
)

// haltFile names the empty function that raises a refusal's interrupt;
// error places skip its frame.
const haltFile = "heap-guard"

// haltProgram makes the empty function.
var haltProgram = goja.MustCompile(haltFile, "(function () {})", true)

// heapGuards checks one session's built-in calls against its heap limit.
type heapGuards struct {
	vm    *goja.Runtime
	limit float64       // bytes
	elems float64       // elements one native walk may visit: limit / valueBytes
	halt  goja.Callable // an empty function: calling it raises a pending interrupt
}

// installHeapGuards wraps the built-ins that can allocate more than limit
// bytes in one call, and removes BigInt (one shift or power of a BigInt
// allocates gigabytes in one operator, which no wrapper can see).
func installHeapGuards(s *session, limit int64) error {
	g := &heapGuards{vm: s.vm, limit: float64(limit), elems: math.Floor(float64(limit) / valueBytes)}
	empty, err := s.vm.RunProgram(haltProgram)
	if err != nil {
		return fmt.Errorf("heap guards: %w", err)
	}
	g.halt, _ = goja.AssertFunction(empty)
	for _, f := range []func() error{g.stringGuards, g.arrayGuards, g.callGuards, g.jsonGuards, g.bufferGuards, g.noBigInt} {
		if err := f(); err != nil {
			return fmt.Errorf("heap guards: %w", err)
		}
	}
	return nil
}

// refuse ends the running callback with ErrHeapLimit instead of running
// the built-in. It interrupts the runtime and raises the interrupt at once
// (by calling an empty function), so that no native caller of the
// built-in goes on; the script cannot catch it.
func (g *heapGuards) refuse(what string, bytes float64) goja.Value {
	err := fmt.Errorf("%w: %s would allocate %s at once, over the limit of %s", ErrHeapLimit, what, mib(bytes), mib(g.limit))
	if bytes <= g.limit {
		err = fmt.Errorf("%w: %s would allocate more than the limit of %s at once", ErrHeapLimit, what, mib(g.limit))
	}
	g.vm.Interrupt(err)
	if g.halt != nil {
		if _, err := g.halt(goja.Undefined()); err != nil {
			panic(err)
		}
	}
	return goja.Undefined() // the interrupt ends the callback at its next instruction
}

// call calls a built-in, rethrowing what it throws.
func (g *heapGuards) call(orig goja.Callable, this goja.Value, args ...goja.Value) goja.Value {
	v, err := orig(this, args...)
	if err != nil {
		panic(err)
	}
	return v
}

// object returns the object property name of o.
func object(o *goja.Object, name string) (*goja.Object, error) {
	v := o.Get(name)
	obj, ok := v.(*goja.Object)
	if !ok {
		return nil, fmt.Errorf("%s is not an object", name)
	}
	return obj, nil
}

// wrap replaces the method name of o with f, which calls orig itself.
// The replacement keeps the method's name and length.
func (g *heapGuards) wrap(o *goja.Object, name string, f func(orig goja.Callable, c goja.FunctionCall) goja.Value) error {
	fn, err := g.wrapper(o.Get(name), name, f)
	if err != nil {
		return err
	}
	return o.Set(name, fn)
}

// wrapper returns a function that runs f with the built-in orig.
func (g *heapGuards) wrapper(origV goja.Value, name string, f func(orig goja.Callable, c goja.FunctionCall) goja.Value) (*goja.Object, error) {
	orig, ok := goja.AssertFunction(origV)
	if !ok {
		return nil, fmt.Errorf("%s is not a function", name)
	}
	fn := g.vm.ToValue(func(c goja.FunctionCall) goja.Value { return f(orig, c) }).(*goja.Object)
	if o, ok := origV.(*goja.Object); ok {
		_ = fn.DefineDataProperty("name", o.Get("name"), goja.FLAG_FALSE, goja.FLAG_TRUE, goja.FLAG_FALSE)
		_ = fn.DefineDataProperty("length", o.Get("length"), goja.FLAG_FALSE, goja.FLAG_TRUE, goja.FLAG_FALSE)
	}
	return fn, nil
}

// toLength is ToLength: v as a whole number in [0, 2^53-1].
func toLength(v goja.Value) float64 {
	if v == nil {
		return 0
	}
	f := v.ToFloat()
	if math.IsNaN(f) || f <= 0 {
		return 0
	}
	return math.Min(math.Trunc(f), 1<<53-1)
}

// lengthOf returns o.length as ToLength.
func lengthOf(o *goja.Object) float64 { return toLength(o.Get("length")) }

// units returns the UTF-16 length of a string value (0 for others).
func units(v goja.Value) float64 {
	if s, ok := v.(goja.String); ok {
		return float64(s.Length())
	}
	return 0
}

// unitBytes returns what one unit of s costs: 1 for an ASCII string
// (checked on its first asciiScan units), 2 otherwise.
func unitBytes(v goja.Value) float64 {
	s, ok := v.(goja.String)
	if !ok || s.Length() > asciiScan {
		return 2
	}
	for i := range s.Length() {
		if s.CharAt(i) >= 0x80 {
			return 2
		}
	}
	return 1
}

// textBytes returns what the text of n units made of the strings parts
// costs: at most 2 bytes a unit, 1 when they are all ASCII.
func (g *heapGuards) textBytes(n float64, parts ...goja.Value) float64 {
	if n*2 <= g.limit {
		return n * 2
	}
	per := 1.0
	for _, p := range parts {
		per = math.Max(per, unitBytes(p))
	}
	return n * per
}

// valueText returns the units a primitive's text takes (an object's is
// made by its own script code, which the heap monitor watches).
func valueText(v goja.Value) float64 {
	switch {
	case v == nil, goja.IsUndefined(v), goja.IsNull(v):
		return 0
	case isString(v):
		return units(v)
	}
	if _, ok := v.(*goja.Object); ok {
		return 0
	}
	return numberTextBytes
}

// truthy reports whether v is there and true as a boolean.
func truthy(v goja.Value) bool { return v != nil && v.ToBoolean() }

func isString(v goja.Value) bool {
	_, ok := v.(goja.String)
	return ok
}

// index returns o[i].
func index(o *goja.Object, i int) goja.Value {
	return o.Get(strconv.Itoa(i))
}

// joinedText returns the units of the elements of o (length n) once
// turned into text, stopping once over budget.
func (g *heapGuards) joinedText(o *goja.Object, n, budget float64) float64 {
	total := 0.0
	for i := 0; float64(i) < n && total <= budget; i++ {
		total += valueText(index(o, i))
	}
	return total
}

// noBigInt removes what makes BigInt values at run time.
func (g *heapGuards) noBigInt() error {
	global := g.vm.GlobalObject()
	for _, name := range []string{"BigInt", "BigInt64Array", "BigUint64Array"} {
		if err := global.Delete(name); err != nil {
			return err
		}
	}
	if dv, ok := global.Get("DataView").(*goja.Object); ok {
		if proto, ok := dv.Get("prototype").(*goja.Object); ok {
			for _, name := range []string{"getBigInt64", "getBigUint64", "setBigInt64", "setBigUint64"} {
				if err := proto.Delete(name); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// bigIntLiteral finds the first BigInt literal in a parsed script, by
// walking its syntax tree.
func bigIntLiteral(prog *ast.Program) (file.Idx, bool) {
	seen := map[uintptr]bool{}
	var walk func(v reflect.Value) (file.Idx, bool)
	walk = func(v reflect.Value) (file.Idx, bool) {
		switch v.Kind() {
		case reflect.Pointer:
			if v.IsNil() || seen[v.Pointer()] {
				return 0, false
			}
			seen[v.Pointer()] = true
			if n, ok := v.Interface().(*ast.NumberLiteral); ok {
				if _, big := n.Value.(*big.Int); big {
					return n.Idx, true
				}
				return 0, false
			}
			if v.Type().Elem().PkgPath() != astPkg {
				return 0, false // file positions, strings, numbers
			}
			return walk(v.Elem())
		case reflect.Interface:
			if v.IsNil() {
				return 0, false
			}
			return walk(v.Elem())
		case reflect.Struct:
			for i := range v.NumField() {
				if idx, ok := walk(v.Field(i)); ok {
					return idx, true
				}
			}
		case reflect.Slice:
			for i := range v.Len() {
				if idx, ok := walk(v.Index(i)); ok {
					return idx, true
				}
			}
		}
		return 0, false
	}
	return walk(reflect.ValueOf(prog))
}

// astPkg is the package of goja's syntax tree.
var astPkg = reflect.TypeFor[ast.Program]().PkgPath()
