// Package webhook speaks the app dialects of the gateway's HTTP requests to
// apps (document requests, stream upgrades, status callbacks): CarrierX's
// JSON (the default) and Twilio's form-encoded requests signed with
// X-Twilio-Signature, with Twilio's ids (CA…, AC…) and field values.
package webhook

import "fmt"

// Dialect is the app dialect: how requests to the app are encoded.
type Dialect uint8

// The app dialects.
const (
	CarrierX Dialect = iota // JSON bodies (POST) or query parameters (GET), CarrierX's fields
	Twilio                  // form bodies (POST) or query parameters (GET), Twilio's fields, signed
)

// String returns the dialect's flag name.
func (d Dialect) String() string {
	if d == Twilio {
		return "twilio"
	}
	return "carrierx"
}

// ParseDialect returns the app dialect called name ("carrierx" or
// "twilio").
func ParseDialect(name string) (Dialect, error) {
	switch name {
	case "carrierx":
		return CarrierX, nil
	case "twilio":
		return Twilio, nil
	}
	return CarrierX, fmt.Errorf("app dialect %q: want carrierx or twilio", name)
}
