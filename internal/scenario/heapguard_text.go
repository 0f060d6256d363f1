package scenario

import (
	"math"
	"strings"

	"github.com/dop251/goja"
)

// stringGuards guards String.prototype and String.raw.
func (g *heapGuards) stringGuards() error {
	vm := g.vm
	ctor, err := object(vm.GlobalObject(), "String")
	if err != nil {
		return err
	}
	proto, err := object(ctor, "prototype")
	if err != nil {
		return err
	}
	err = g.wrap(proto, "repeat", func(orig goja.Callable, c goja.FunctionCall) goja.Value {
		if isNothing(c.This) {
			return g.call(orig, c.This, c.Arguments...)
		}
		s, n := c.This.ToString(), c.Argument(0).ToNumber()
		if count := n.ToFloat(); count > 0 && !math.IsInf(count, 1) {
			if b := g.textBytes(units(s)*math.Trunc(count), s); b > g.limit {
				return g.refuse("String.prototype.repeat", b)
			}
		}
		return g.call(orig, s, n)
	})
	if err != nil {
		return err
	}
	for _, name := range []string{"padStart", "padEnd"} {
		err = g.wrap(proto, name, func(orig goja.Callable, c goja.FunctionCall) goja.Value {
			if isNothing(c.This) {
				return g.call(orig, c.This, c.Arguments...)
			}
			s, n := c.This.ToString(), c.Argument(0).ToNumber()
			args := []goja.Value{n}
			fill := goja.Value(vm.ToValue(" "))
			if len(c.Arguments) > 1 {
				fill = c.Arguments[1]
				args = append(args, fill)
			}
			if b := g.textBytes(toLength(n), s, fill); toLength(n) > units(s) && b > g.limit {
				return g.refuse("String.prototype."+name, b)
			}
			return g.call(orig, s, args...)
		})
		if err != nil {
			return err
		}
	}
	err = g.wrap(proto, "concat", func(orig goja.Callable, c goja.FunctionCall) goja.Value {
		if isNothing(c.This) {
			return g.call(orig, c.This, c.Arguments...)
		}
		s := c.This.ToString()
		args := make([]goja.Value, len(c.Arguments))
		n := units(s)
		for i, a := range c.Arguments {
			args[i] = a.ToString()
			n += units(args[i])
		}
		if n > g.limit {
			return g.refuse("String.prototype.concat", n)
		}
		return g.call(orig, s, args...)
	})
	if err != nil {
		return err
	}
	err = g.wrap(proto, "split", func(orig goja.Callable, c goja.FunctionCall) goja.Value {
		if isNothing(c.This) {
			return g.call(orig, c.This, c.Arguments...)
		}
		s := c.This.ToString()
		n := units(s) + 1
		if n > g.elems {
			switch sep := c.Argument(0); {
			case goja.IsUndefined(sep):
				n = 1
			case isString(sep) && units(sep) > 0:
				n = float64(strings.Count(s.String(), sep.String()) + 1)
			}
			if lim := c.Argument(1); !goja.IsUndefined(lim) {
				n = math.Min(n, float64(uint32(lim.ToInteger())))
			}
			if n > g.elems {
				return g.refuse("String.prototype.split", n*stringValueBytes)
			}
		}
		return g.call(orig, s, c.Arguments...)
	})
	if err != nil {
		return err
	}
	err = g.wrap(proto, "match", func(orig goja.Callable, c goja.FunctionCall) goja.Value {
		if isNothing(c.This) {
			return g.call(orig, c.This, c.Arguments...)
		}
		s := c.This.ToString()
		if re, ok := c.Argument(0).(*goja.Object); ok && units(s)+1 > g.elems && re.ClassName() == "RegExp" && truthy(re.Get("global")) {
			return g.refuse("String.prototype.match", (units(s)+1)*stringValueBytes)
		}
		return g.call(orig, s, c.Arguments...)
	})
	if err != nil {
		return err
	}
	for _, name := range []string{"replace", "replaceAll"} {
		err = g.wrap(proto, name, func(orig goja.Callable, c goja.FunctionCall) goja.Value {
			if isNothing(c.This) {
				return g.call(orig, c.This, c.Arguments...)
			}
			s, pattern, repl := c.This.ToString(), c.Argument(0), c.Argument(1)
			if _, isFunc := goja.AssertFunction(repl); isFunc {
				// The function runs for every match: the heap monitor watches it.
				return g.call(orig, s, pattern, repl)
			}
			repl = repl.ToString()
			if b := g.replaceText(s, pattern, repl, name == "replaceAll"); b > g.limit {
				return g.refuse("String.prototype."+name, b)
			}
			return g.call(orig, s, pattern, repl)
		})
		if err != nil {
			return err
		}
	}
	iter, err := g.wrapper(proto.GetSymbol(goja.SymIterator), "[Symbol.iterator]", func(orig goja.Callable, c goja.FunctionCall) goja.Value {
		if isString(c.This) && units(c.This) > g.elems {
			return g.refuse("iterating a string", units(c.This)*stringValueBytes)
		}
		return g.call(orig, c.This, c.Arguments...)
	})
	if err != nil {
		return err
	}
	if err := proto.SetSymbol(goja.SymIterator, iter); err != nil {
		return err
	}
	return g.wrap(ctor, "raw", func(orig goja.Callable, c goja.FunctionCall) goja.Value {
		if tpl, ok := c.Argument(0).(*goja.Object); ok {
			if raw, ok := tpl.Get("raw").(*goja.Object); ok {
				n := lengthOf(raw)
				if n > g.elems {
					return g.refuse("String.raw", n*valueBytes)
				}
				text := g.joinedText(raw, n, g.limit)
				for _, a := range c.Arguments[1:] {
					text += valueText(a)
				}
				if text > g.limit {
					return g.refuse("String.raw", text)
				}
			}
		}
		return g.call(orig, c.This, c.Arguments...)
	})
}

// replaceText bounds the text of s.replace(pattern, repl) (a string repl):
// every match adds repl, and each $ substitution at most the text of s
// ($` and $' at most s itself, for every match).
func (g *heapGuards) replaceText(s, pattern, repl goja.Value, all bool) float64 {
	n, r := units(s), units(repl)
	matches := 1.0
	if re, ok := pattern.(*goja.Object); ok && re.ClassName() == "RegExp" {
		if truthy(re.Get("global")) {
			matches = n + 1
		}
	} else if all {
		if p := units(pattern.ToString()); p > 0 {
			matches = n/p + 1
		} else {
			matches = n + 1
		}
	}
	text := repl.String()
	dollars := float64(strings.Count(text, "$"))
	if strings.Contains(text, "$`") || strings.Contains(text, "$'") {
		return n + matches*(r+dollars*n)
	}
	return n + matches*r + dollars*n
}

// jsonGuards guards JSON.stringify (by walking the value first) and JSON.parse
// (by the text's length).
func (g *heapGuards) jsonGuards() error {
	vm := g.vm
	j, err := object(vm.GlobalObject(), "JSON")
	if err != nil {
		return err
	}
	err = g.wrap(j, "stringify", func(orig goja.Callable, c goja.FunctionCall) goja.Value {
		if _, isFunc := goja.AssertFunction(c.Argument(1)); !isFunc {
			indent := 0.0
			if sp := c.Argument(2); isString(sp) {
				indent = math.Min(units(sp), 10)
			} else if !isNothing(sp) {
				indent = math.Min(math.Max(sp.ToFloat(), 0), 10)
			}
			w := jsonWalk{g: g, indent: indent, budget: g.elems, onPath: map[*goja.Object]bool{}}
			if w.value(c.Argument(0), 0); w.text > g.limit || w.budget < 0 {
				return g.refuse("JSON.stringify", w.text)
			}
		}
		return g.call(orig, c.This, c.Arguments...)
	})
	if err != nil {
		return err
	}
	return g.wrap(j, "parse", func(orig goja.Callable, c goja.FunctionCall) goja.Value {
		text := c.Argument(0).ToString()
		if b := units(text) * jsonParseBytes; b > g.limit {
			return g.refuse("JSON.parse", b)
		}
		args := append([]goja.Value{text}, c.Arguments[min(1, len(c.Arguments)):]...)
		return g.call(orig, c.This, args...)
	})
}

// jsonWalk estimates the text JSON.stringify makes of a value.
type jsonWalk struct {
	g      *heapGuards
	indent float64
	text   float64 // units so far
	budget float64 // values left to visit
	onPath map[*goja.Object]bool
}

func (w *jsonWalk) value(v goja.Value, depth float64) {
	if w.text > w.g.limit || w.budget < 0 {
		return
	}
	if depth > maxNesting {
		w.budget = -1 // goja would recurse this deep in Go
		return
	}
	w.budget--
	w.text += 1 + depth*w.indent // separator, newline and indent
	o, ok := v.(*goja.Object)
	if !ok {
		if goja.IsUndefined(v) || v == nil {
			w.text += 4 // "null" in an array
			return
		}
		w.text += valueText(v) + 2
		return
	}
	if w.onPath[o] {
		return // a cycle: stringify throws
	}
	if _, isFunc := goja.AssertFunction(o.Get("toJSON")); isFunc {
		w.text += numberTextBytes // its own script code: watched by the heap monitor
		return
	}
	if _, isFunc := goja.AssertFunction(o); isFunc {
		return
	}
	w.onPath[o] = true
	defer delete(w.onPath, o)
	if o.ClassName() == "Array" {
		n := lengthOf(o)
		if n > w.budget {
			w.budget = -1
			return
		}
		for i := 0; float64(i) < n && w.budget >= 0 && w.text <= w.g.limit; i++ {
			w.value(index(o, i), depth+1)
		}
		return
	}
	for _, k := range o.Keys() {
		if w.budget < 0 || w.text > w.g.limit {
			return
		}
		w.text += float64(len(k)) + 3
		w.value(o.Get(k), depth+1)
	}
}
