package scenario

import (
	"fmt"
	"strconv"
	"strings"
)

// DTSHeader starts the declaration file DTS writes.
const DTSHeader = `// TypeScript declarations of the VoxEngine API that callstream's scenario
// runtime implements. Generated from the runtime; do not edit.
// Regenerate: go test ./internal/scenario -run TestVoxDTS -update
`

// signatures are the parameter lists and result types of the members
// whose shape is known; any other function is declared (...args: any[]): any.
var signatures = map[string]string{
	"VoxEngine.addEventListener":    "(event: string, handler: (e: any) => void): void",
	"VoxEngine.removeEventListener": "(event: string, handler?: (e: any) => void): void",
	"VoxEngine.terminate":           "(): void",
	"VoxEngine.customData":          "(data?: string): string",
	"VoxEngine.createWebSocket":     "(url: string, params?: any): WebSocket",
	"VoxEngine.createURLPlayer":     "(url: string, params?: any): Player",
	"VoxEngine.createTTSPlayer":     "(text: string, params?: any): Player",
	"VoxEngine.createRecorder":      "(params?: any): Recorder",
	"VoxEngine.callSIP":             "(to: string, params?: any, ...rest: any[]): Call",
	"VoxEngine.callPSTN":            "(number: string, callerid?: string, params?: any): Call",
	"VoxEngine.sendMediaBetween":    "(a: any, b: any): void",
	"VoxEngine.stopMediaBetween":    "(a: any, b: any): void",
	"VoxEngine.easyProcess":         "(call1: Call, call2: Call, onEstablished?: (call1: Call, call2: Call) => void, direct?: boolean): void",
	"Logger.write":                  "(...text: any[]): void",
	"Net.httpRequestAsync":          "(url: string, options?: any): Promise<any>",
	"Net.httpRequest":               "(url: string, callback: (result: any) => void, options?: any): void",
	"setTimeout":                    "(callback: (...args: any[]) => void, ms?: number, ...args: any[]): number",
	"setInterval":                   "(callback: (...args: any[]) => void, ms?: number, ...args: any[]): number",
	"clearTimeout":                  "(id?: number): void",
	"clearInterval":                 "(id?: number): void",
	"require":                       "(module: string): void",
	"*.addEventListener":            "(event: string, handler: (e: any) => void): void",
	"*.removeEventListener":         "(event: string, handler?: (e: any) => void): void",
	"*.sendMediaTo":                 "(target: any, params?: any): void",
	"*.stopMediaTo":                 "(target: any, params?: any): void",
	"*.id":                          "(): string",
	"*.stop":                        "(): void",
	"Call.answer":                   "(extraHeaders?: any, params?: any): void",
	"Call.hangup":                   "(extraHeaders?: any): void",
	"Call.reject":                   "(code?: number, extraHeaders?: any): void",
	"Call.say":                      "(text: string, params?: any): void",
	"Call.startPlayback":            "(url: string, params?: any): void",
	"Call.state":                    "(): string",
	"Call.callerid":                 "(): string",
	"Call.number":                   "(): string",
	"Call.displayName":              "(): string",
	"Call.incoming":                 "(): boolean",
	"Call.headers":                  "(): { [name: string]: string }",
	"Call.customData":               "(data?: string): string",
	"Call.handleTones":              "(enable: boolean): void",
	"Call.sendDigits":               "(digits: string): void",
	"WebSocket.send":                "(data: string): void",
	"WebSocket.close":               "(code?: number, reason?: string): void",
	"WebSocket.clearMediaBuffer":    "(params?: { tag?: string }): void",
}

// signature returns the declared signature of the function member path
// of the type or global owner.
func signature(owner, name string) string {
	if sig, ok := signatures[owner+"."+name]; ok {
		return sig
	}
	if owner == "" {
		if sig, ok := signatures[name]; ok {
			return sig
		}
	}
	if sig, ok := signatures["*."+name]; ok && owner != "" {
		return sig
	}
	return "(...args: any[]): any"
}

// DTS renders the surface as TypeScript declarations: an enum for every
// global of constants, a namespace for every global object, a class or an
// interface for every type. A member that only refuses is marked
// @deprecated with the reason.
func (sf *Surface) DTS() string {
	var b strings.Builder
	b.WriteString(DTSHeader)
	types := map[string]Type{}
	for _, t := range sf.Types {
		types[t.Name] = t
	}
	for _, g := range sf.Globals {
		b.WriteByte('\n')
		doc(&b, "", g)
		switch {
		case g.Kind == KindFunction && g.Class:
			fmt.Fprintf(&b, "declare class %s {\n", g.Name)
			fmt.Fprintf(&b, "  constructor(url: string, params?: any);\n")
			members(&b, g.Name, types[g.Name].Members)
			b.WriteString("}\n")
			delete(types, g.Name)
		case g.Kind == KindFunction:
			fmt.Fprintf(&b, "declare function %s%s;\n", g.Name, signature("", g.Name))
		case g.Kind == KindObject && constants(g.Items):
			fmt.Fprintf(&b, "declare enum %s {\n", g.Name)
			for _, it := range g.Items {
				doc(&b, "  ", it)
				fmt.Fprintf(&b, "  %s = %s,\n", it.Name, literal(it))
			}
			b.WriteString("}\n")
		case g.Kind == KindObject:
			fmt.Fprintf(&b, "declare namespace %s {\n", g.Name)
			for _, it := range g.Items {
				doc(&b, "  ", it)
				if it.Kind == KindFunction {
					fmt.Fprintf(&b, "  function %s%s;\n", it.Name, signature(g.Name, it.Name))
				} else {
					fmt.Fprintf(&b, "  const %s: %s;\n", it.Name, tsType(it))
				}
			}
			b.WriteString("}\n")
		default:
			fmt.Fprintf(&b, "declare const %s: %s;\n", g.Name, tsType(g))
		}
	}
	for _, t := range sf.Types {
		if _, ok := types[t.Name]; !ok {
			continue
		}
		fmt.Fprintf(&b, "\ninterface %s {\n", t.Name)
		members(&b, t.Name, t.Members)
		b.WriteString("}\n")
	}
	return b.String()
}

// members writes the members of a class or an interface.
func members(b *strings.Builder, owner string, list []Member) {
	for _, m := range list {
		doc(b, "  ", m)
		switch {
		case m.Kind == KindFunction:
			fmt.Fprintf(b, "  %s%s;\n", m.Name, signature(owner, m.Name))
		case strings.HasPrefix(m.Name, "on") && m.Kind == KindAny:
			fmt.Fprintf(b, "  %s: ((e: any) => void) | null;\n", m.Name)
		default:
			fmt.Fprintf(b, "  readonly %s: %s;\n", m.Name, tsType(m))
		}
	}
}

// doc writes the JSDoc of a member that only refuses.
func doc(b *strings.Builder, indent string, m Member) {
	if m.NotSupported != "" {
		fmt.Fprintf(b, "%s/** @deprecated not supported by callstream: %s */\n", indent, m.NotSupported)
	}
}

// constants reports whether every item is a constant (an enum).
func constants(items []Member) bool {
	if len(items) == 0 {
		return false
	}
	for _, it := range items {
		if it.Kind != KindString && it.Kind != KindNumber {
			return false
		}
	}
	return true
}

// literal is a constant as TypeScript writes it.
func literal(m Member) string {
	if m.Kind == KindString {
		return strconv.Quote(m.Value)
	}
	return m.Value
}

// tsType is the TypeScript type of a value member.
func tsType(m Member) string {
	switch m.Kind {
	case KindString:
		return "string"
	case KindNumber:
		return "number"
	case KindBool:
		return "boolean"
	case KindFunction:
		return "(...args: any[]) => any"
	}
	return "any"
}
