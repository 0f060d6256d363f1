// Package say holds integration tests of FlexML's <Say> against a real
// `callstream serve` process: real SIP and RTP from the project's caller,
// a real app server, espeak-ng as the synthesizer (or a missing one).
package say
