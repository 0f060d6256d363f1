// Package dial holds integration tests of FlexML's <Dial> against a real
// `callstream serve` process, a real FlexML app server, a real SIP caller
// and SIPp as the second call's party, over UDP on loopback.
package dial
