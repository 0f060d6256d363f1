package scenario

import (
	"fmt"
	"math"
	"strconv"

	"github.com/dop251/goja"
)

// arrayGuards guards Array.prototype and Array.from.
func (g *heapGuards) arrayGuards() error {
	vm := g.vm
	ctor, err := object(vm.GlobalObject(), "Array")
	if err != nil {
		return err
	}
	proto, err := object(ctor, "prototype")
	if err != nil {
		return err
	}
	for _, name := range []string{"join", "toLocaleString"} {
		err = g.wrap(proto, name, func(orig goja.Callable, c goja.FunctionCall) goja.Value {
			if isNothing(c.This) {
				return g.call(orig, c.This, c.Arguments...)
			}
			o := c.This.ToObject(vm)
			n := lengthOf(o)
			if n > g.elems {
				return g.refuse("Array.prototype."+name+" of "+strconv.FormatFloat(n, 'f', 0, 64)+" elements", n*valueBytes)
			}
			sepUnits := 1.0
			args := c.Arguments
			if name == "join" {
				if sep := c.Argument(0); !goja.IsUndefined(sep) {
					sep = sep.ToString()
					sepUnits = units(sep)
					args = []goja.Value{sep}
				}
			}
			text := math.Max(n-1, 0) * sepUnits
			if text <= g.limit {
				text += g.joinedText(o, n, g.limit-text)
			}
			if text > g.limit {
				return g.refuse("Array.prototype."+name, text)
			}
			return g.call(orig, o, args...)
		})
		if err != nil {
			return err
		}
	}
	err = g.wrap(proto, "fill", func(orig goja.Callable, c goja.FunctionCall) goja.Value {
		if isNothing(c.This) {
			return g.call(orig, c.This, c.Arguments...)
		}
		o := c.This.ToObject(vm)
		n := lengthOf(o)
		from := relIndex(c.Argument(1), n, 0)
		to := relIndex(c.Argument(2), n, n)
		if to-from > g.elems {
			return g.refuse("Array.prototype.fill of "+strconv.FormatFloat(to-from, 'f', 0, 64)+" elements", (to-from)*valueBytes)
		}
		return g.call(orig, o, c.Argument(0), vm.ToValue(from), vm.ToValue(to))
	})
	if err != nil {
		return err
	}
	// Iterating an array (for-of, spread, Array.from, new Set) visits every
	// index, holes included.
	lengthBound := func(what string, extra func(c goja.FunctionCall) float64) func(goja.Callable, goja.FunctionCall) goja.Value {
		return func(orig goja.Callable, c goja.FunctionCall) goja.Value {
			if isNothing(c.This) {
				return g.call(orig, c.This, c.Arguments...)
			}
			o := c.This.ToObject(vm)
			n := lengthOf(o)
			if extra != nil {
				n += extra(c)
			}
			if n > g.elems {
				return g.refuse(what+" of "+strconv.FormatFloat(n, 'f', 0, 64)+" elements", n*valueBytes)
			}
			return g.call(orig, o, c.Arguments...)
		}
	}
	values, err := g.wrapper(proto.Get("values"), "values", lengthBound("iterating an array", nil))
	if err != nil {
		return err
	}
	if err := proto.Set("values", values); err != nil {
		return err
	}
	if err := proto.SetSymbol(goja.SymIterator, values); err != nil {
		return err
	}
	for _, name := range []string{"keys", "entries", "toReversed", "toSorted", "with"} {
		if err := g.wrap(proto, name, lengthBound("Array.prototype."+name, nil)); err != nil {
			return err
		}
	}
	err = g.wrap(proto, "toSpliced", lengthBound("Array.prototype.toSpliced", func(c goja.FunctionCall) float64 {
		return float64(max(len(c.Arguments)-2, 0))
	}))
	if err != nil {
		return err
	}
	err = g.wrap(proto, "concat", func(orig goja.Callable, c goja.FunctionCall) goja.Value {
		if isNothing(c.This) {
			return g.call(orig, c.This, c.Arguments...)
		}
		o := c.This.ToObject(vm)
		n := spreadLength(o)
		for _, a := range c.Arguments {
			n += spreadLength(a)
		}
		if n > g.elems {
			return g.refuse("Array.prototype.concat of "+strconv.FormatFloat(n, 'f', 0, 64)+" elements", n*valueBytes)
		}
		return g.call(orig, o, c.Arguments...)
	})
	if err != nil {
		return err
	}
	err = g.wrap(proto, "flat", func(orig goja.Callable, c goja.FunctionCall) goja.Value {
		if isNothing(c.This) {
			return g.call(orig, c.This, c.Arguments...)
		}
		o := c.This.ToObject(vm)
		depth := 1.0
		if d := c.Argument(0); !goja.IsUndefined(d) {
			depth = d.ToFloat()
			if math.IsNaN(depth) {
				depth = 0
			}
		}
		budget := g.elems
		if g.flatCount(o, depth, 0, &budget, map[*goja.Object]bool{}); budget < 0 {
			return g.refuse("Array.prototype.flat of arrays too many, nested too deep or holding themselves", 0)
		}
		return g.call(orig, o, vm.ToValue(depth))
	})
	if err != nil {
		return err
	}
	return g.wrap(ctor, "from", func(orig goja.Callable, c goja.FunctionCall) goja.Value {
		if items, ok := c.Argument(0).(*goja.Object); ok && isNothing(items.GetSymbol(goja.SymIterator)) {
			if n := lengthOf(items); n > g.elems {
				return g.refuse("Array.from of "+strconv.FormatFloat(n, 'f', 0, 64)+" elements", n*valueBytes)
			}
		}
		return g.call(orig, c.This, c.Arguments...)
	})
}

// relIndex is the relative index argument of fill and slice: negative
// counts from n; undefined is def.
func relIndex(v goja.Value, n, def float64) float64 {
	if goja.IsUndefined(v) {
		return def
	}
	f := v.ToFloat()
	if math.IsNaN(f) {
		f = 0
	}
	f = math.Trunc(f)
	if f < 0 {
		return math.Max(n+f, 0)
	}
	return math.Min(f, n)
}

// spreadLength is what concat adds for v: an array's length, else 1.
func spreadLength(v goja.Value) float64 {
	if o, ok := v.(*goja.Object); ok && o.ClassName() == "Array" {
		return lengthOf(o)
	}
	return 1
}

// flatCount takes from budget the values flat(depth) would visit in o; it
// sets budget below zero when they are too many, nested deeper than
// maxNesting, or when an array holds itself (goja would recurse until its
// stack is exhausted).
func (g *heapGuards) flatCount(o *goja.Object, depth float64, nesting int, budget *float64, onPath map[*goja.Object]bool) {
	n := lengthOf(o)
	if n > *budget || nesting > maxNesting || onPath[o] {
		*budget = -1
		return
	}
	onPath[o] = true
	defer delete(onPath, o)
	for i := 0; float64(i) < n && *budget >= 0; i++ {
		*budget--
		if e, ok := index(o, i).(*goja.Object); ok && depth >= 1 && e.ClassName() == "Array" {
			g.flatCount(e, depth-1, nesting+1, budget, onPath)
		}
	}
}

// callGuards guards Function.prototype.apply, Reflect.apply and
// Reflect.construct: an arguments list of length n takes n values.
func (g *heapGuards) callGuards() error {
	vm := g.vm
	argsBound := func(what string, at int) func(goja.Callable, goja.FunctionCall) goja.Value {
		return func(orig goja.Callable, c goja.FunctionCall) goja.Value {
			if list, ok := c.Argument(at).(*goja.Object); ok {
				if n := lengthOf(list); n > g.elems {
					return g.refuse(what+" with "+strconv.FormatFloat(n, 'f', 0, 64)+" arguments", n*valueBytes)
				}
			}
			return g.call(orig, c.This, c.Arguments...)
		}
	}
	fn, err := object(vm.GlobalObject(), "Function")
	if err != nil {
		return err
	}
	fproto, err := object(fn, "prototype")
	if err != nil {
		return err
	}
	if err := g.wrap(fproto, "apply", argsBound("Function.prototype.apply", 1)); err != nil {
		return err
	}
	reflect, err := object(vm.GlobalObject(), "Reflect")
	if err != nil {
		return err
	}
	if err := g.wrap(reflect, "apply", argsBound("Reflect.apply", 2)); err != nil {
		return err
	}
	return g.wrap(reflect, "construct", argsBound("Reflect.construct", 1))
}

// bufferGuards guards the ArrayBuffer and typed array constructors (by the
// bytes they would allocate) and %TypedArray%.from; the constructors are
// replaced by proxies, so that instanceof and the prototypes stay as
// they are.
func (g *heapGuards) bufferGuards() error {
	vm := g.vm
	global := vm.GlobalObject()
	err := g.guardConstructor("ArrayBuffer", func(args []goja.Value) float64 {
		if len(args) == 0 {
			return 0
		}
		return toLength(args[0])
	})
	if err != nil {
		return err
	}
	sizes := map[string]float64{
		"Int8Array": 1, "Uint8Array": 1, "Uint8ClampedArray": 1, "Int16Array": 2, "Uint16Array": 2, "Float16Array": 2,
		"Int32Array": 4, "Uint32Array": 4, "Float32Array": 4, "Float64Array": 8,
	}
	// %TypedArray%, the constructors' own prototype, holds from and the
	// iterators.
	if u8, ok := global.Get("Uint8Array").(*goja.Object); ok && u8.Prototype() != nil {
		typed := u8.Prototype()
		err := g.wrap(typed, "from", func(orig goja.Callable, c goja.FunctionCall) goja.Value {
			if src, ok := c.Argument(0).(*goja.Object); ok {
				if n := sourceLength(src); n*(8+valueBytes) > g.limit {
					return g.refuse("TypedArray.from of "+strconv.FormatFloat(n, 'f', 0, 64)+" elements", n*(8+valueBytes))
				}
			}
			return g.call(orig, c.This, c.Arguments...)
		})
		if err != nil {
			return err
		}
		if ta, ok := typed.Get("prototype").(*goja.Object); ok {
			bound := func(orig goja.Callable, c goja.FunctionCall) goja.Value {
				if o, ok := c.This.(*goja.Object); ok {
					if n := lengthOf(o); n > g.elems {
						return g.refuse("iterating a typed array of "+strconv.FormatFloat(n, 'f', 0, 64)+" elements", n*valueBytes)
					}
				}
				return g.call(orig, c.This, c.Arguments...)
			}
			values, err := g.wrapper(ta.Get("values"), "values", bound)
			if err != nil {
				return err
			}
			if err := ta.Set("values", values); err != nil {
				return err
			}
			if err := ta.SetSymbol(goja.SymIterator, values); err != nil {
				return err
			}
			for _, name := range []string{"keys", "entries"} {
				if err := g.wrap(ta, name, bound); err != nil {
					return err
				}
			}
		}
	}
	for name, size := range sizes {
		if _, ok := global.Get(name).(*goja.Object); !ok {
			continue // not in this goja
		}
		err := g.guardConstructor(name, func(args []goja.Value) float64 {
			if len(args) == 0 {
				return 0
			}
			switch a := args[0].(type) {
			case *goja.Object:
				if a.ClassName() == "ArrayBuffer" {
					return 0 // a view of memory that exists
				}
				return sourceLength(a) * (size + valueBytes)
			default:
				return toLength(a) * size
			}
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// sourceLength is the elements a typed array would take from src: its
// length, or a Set's or Map's size.
func sourceLength(src *goja.Object) float64 {
	if n := src.Get("length"); n != nil && !goja.IsUndefined(n) {
		return toLength(n)
	}
	return toLength(src.Get("size"))
}

// guardConstructor replaces the global constructor name with a proxy that
// refuses constructions bytesOf says are over the limit.
func (g *heapGuards) guardConstructor(name string, bytesOf func(args []goja.Value) float64) error {
	vm := g.vm
	target, err := object(vm.GlobalObject(), name)
	if err != nil {
		return err
	}
	construct, ok := goja.AssertConstructor(target)
	if !ok {
		return fmt.Errorf("%s is not a constructor", name)
	}
	// goja's proxies have no instanceof of their own: the constructor
	// answers it, by its prototype.
	hasInstance := vm.ToValue(func(c goja.FunctionCall) goja.Value {
		obj, ok := c.Argument(0).(*goja.Object)
		proto, isObj := target.Get("prototype").(*goja.Object)
		if !ok || !isObj {
			return vm.ToValue(false)
		}
		for p := obj.Prototype(); p != nil; p = p.Prototype() {
			if p.SameAs(proto) {
				return vm.ToValue(true)
			}
		}
		return vm.ToValue(false)
	})
	if err := target.DefineDataPropertySymbol(goja.SymHasInstance, hasInstance, goja.FLAG_FALSE, goja.FLAG_FALSE, goja.FLAG_FALSE); err != nil {
		return err
	}
	proxy := vm.ToValue(vm.NewProxy(target, &goja.ProxyTrapConfig{
		Construct: func(_ *goja.Object, args []goja.Value, newTarget *goja.Object) *goja.Object {
			if b := bytesOf(args); b > g.limit {
				g.refuse("new "+name, b)
				return vm.NewObject()
			}
			obj, err := construct(newTarget, args...)
			if err != nil {
				panic(err)
			}
			return obj
		},
	}))
	if proto, ok := target.Get("prototype").(*goja.Object); ok {
		if err := proto.Set("constructor", proxy); err != nil {
			return err
		}
	}
	return vm.GlobalObject().Set(name, proxy)
}
