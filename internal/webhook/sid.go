package webhook

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
)

// Prefixes of Twilio's ids.
const (
	CallSidPrefix    = "CA"
	StreamSidPrefix  = "MZ"
	AccountSidPrefix = "AC"
)

// DefaultAccountSid is the AccountSid requests carry under the Twilio
// dialect when the operator gives none: a placeholder of the right shape
// that no Twilio account has.
const DefaultAccountSid = "AC00000000000000000000000000000000"

// NewSid returns prefix followed by 32 random lowercase hex digits, the
// shape of Twilio's ids (CA… for calls, MZ… for streams).
func NewSid(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// CheckAccountSid reports whether s has the shape of a Twilio AccountSid:
// AC followed by 32 hex digits.
func CheckAccountSid(s string) error {
	if len(s) != 34 || s[:2] != AccountSidPrefix {
		return fmt.Errorf("account sid %q: want AC followed by 32 hex digits", s)
	}
	if _, err := hex.DecodeString(s[2:]); err != nil {
		return fmt.Errorf("account sid %q: want AC followed by 32 hex digits", s)
	}
	return nil
}
