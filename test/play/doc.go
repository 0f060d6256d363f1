// Package play holds integration tests of FlexML's <Play> against a real
// `callstream serve` process: real SIP and RTP from the project's caller,
// a real app server serving WAV and MP3 files, and `callstream call
// --say` placing a call into it.
package play
