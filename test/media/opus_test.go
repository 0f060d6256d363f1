//go:build opus

package media

func init() { widebandCodecs = append(widebandCodecs, "opus") }
