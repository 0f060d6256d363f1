// Package nodeid names the nodes of a callstream fleet and marks every
// CallSid with the node that holds the call, so that any node can tell,
// from the CallSid alone, which of its peers to ask about a call.
//
// A node id is 1 to 16 characters of [a-z0-9-]. Its tag is the first 16
// bits of the SHA-256 of the id, written as 4 lowercase hex digits; a CallSid
// carries the tag in a fixed position and stays in its dialect's shape:
//
//	UUID (CarrierX):  TTTTxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx  (a valid version 4 UUID)
//	Twilio:           CATTTTxxxxxxxxxxxxxxxxxxxxxxxxxxxx    (CA and 32 hex digits)
//
// where TTTT is the tag and the x are random. The tag is a hash, not the
// name: NodeOf finds the node among the ids of a known fleet, whose tags
// CheckFleet has checked to be distinct.
package nodeid

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// MaxLen is the longest node id.
const MaxLen = 16

// fallback is the node id when the host name gives none.
const fallback = "node"

// twilioCallPrefix starts Twilio's CallSids.
const twilioCallPrefix = "CA"

// Check reports whether id is a valid node id: 1 to 16 characters of
// lowercase letters, digits and '-'.
func Check(id string) error {
	if id == "" {
		return errors.New("node id is empty: want 1 to 16 characters of a-z, 0-9 and -")
	}
	if len(id) > MaxLen {
		return fmt.Errorf("node id %q is %d characters long: want at most %d", id, len(id), MaxLen)
	}
	for i := 0; i < len(id); i++ {
		if !validByte(id[i]) {
			return fmt.Errorf("node id %q: character %d (%q) is not one of a-z, 0-9 and -", id, i+1, id[i])
		}
	}
	return nil
}

func validByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '-'
}

// Default returns the node id derived from the host name (see FromHost),
// or "node" when the host name is unknown.
func Default() string {
	h, err := os.Hostname()
	if err != nil {
		return fallback
	}
	return FromHost(h)
}

// FromHost derives a node id from a host name: its first label, lower
// case, other characters turned into '-', cut to 16 characters, without
// leading or trailing '-'; "node" when nothing is left.
func FromHost(host string) string {
	host, _, _ = strings.Cut(host, ".")
	host = strings.ToLower(host)
	b := make([]byte, 0, MaxLen)
	for i := 0; i < len(host) && len(b) < MaxLen; i++ {
		c := host[i]
		if !validByte(c) {
			c = '-'
		}
		b = append(b, c)
	}
	id := strings.Trim(string(b), "-")
	if id == "" {
		return fallback
	}
	return id
}

// Tag returns the 4 lowercase hex digits that mark the CallSids of node id.
func Tag(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:2])
}

// NewUUIDSid returns a new random version 4 UUID whose first 4 hex digits
// are the tag of node id.
func NewUUIDSid(id string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	sum := sha256.Sum256([]byte(id))
	b[0], b[1] = sum[0], sum[1]
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// NewTwilioSid returns a new Twilio CallSid, CA and 32 lowercase hex
// digits, whose first 4 hex digits are the tag of node id.
func NewTwilioSid(id string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	sum := sha256.Sum256([]byte(id))
	b[0], b[1] = sum[0], sum[1]
	return twilioCallPrefix + hex.EncodeToString(b[:])
}

// TagOf returns the node tag a CallSid carries, and false when sid is
// neither a UUID nor a Twilio CallSid.
func TagOf(sid string) (string, bool) {
	switch {
	case isUUID(sid):
		return strings.ToLower(sid[:4]), true
	case len(sid) == 34 && sid[:2] == twilioCallPrefix && isHex(sid[2:]):
		return strings.ToLower(sid[2:6]), true
	}
	return "", false
}

// NodeOf returns the node of fleet that holds the call sid, and false when
// sid has no tag or no node of fleet has its tag. The tags of fleet must be
// distinct (CheckFleet).
func NodeOf(sid string, fleet []string) (string, bool) {
	tag, ok := TagOf(sid)
	if !ok {
		return "", false
	}
	for _, id := range fleet {
		if Tag(id) == tag {
			return id, true
		}
	}
	return "", false
}

// CheckFleet checks the node ids of a fleet: each valid, none repeated,
// and no two with the same tag (rename one of them if so).
func CheckFleet(fleet []string) error {
	seen := make(map[string]string, len(fleet))
	for _, id := range fleet {
		if err := Check(id); err != nil {
			return err
		}
		t := Tag(id)
		if other, ok := seen[t]; ok {
			if other == id {
				return fmt.Errorf("node id %q is given twice", id)
			}
			return fmt.Errorf("node ids %q and %q share the CallSid tag %s: rename one of them", other, id, t)
		}
		seen[t] = id
	}
	return nil
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch i {
		case 8, 13, 18, 23:
			if s[i] != '-' {
				return false
			}
		default:
			if !isHexByte(s[i]) {
				return false
			}
		}
	}
	return true
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isHexByte(s[i]) {
			return false
		}
	}
	return true
}

func isHexByte(b byte) bool {
	return b >= '0' && b <= '9' || b >= 'a' && b <= 'f' || b >= 'A' && b <= 'F'
}
