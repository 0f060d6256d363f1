// Package verbs holds integration tests of FlexML verbs that talk with the
// caller — <Gather>, <Dtmf>, <Play digits> — against a real `callstream
// serve` process, a real FlexML app server and a real SIP caller sending
// and receiving RFC 4733 telephone events over UDP.
package verbs
