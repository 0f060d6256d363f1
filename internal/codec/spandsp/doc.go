// Package spandsp reaches SpanDSP's G.722 encoder and decoder through cgo.
// It is the reference the codec package's G.722 is checked against,
// bit for bit, in a test built with the spandsp tag (Debian's
// libspandsp-dev); the gateway itself never uses it. Without the tag (or
// without cgo) the package is empty.
package spandsp
