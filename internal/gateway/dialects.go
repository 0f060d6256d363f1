package gateway

import (
	"fmt"

	"github.com/callstream/callstream/internal/stream"
	"github.com/callstream/callstream/internal/stream/carrierx"
	"github.com/callstream/callstream/internal/stream/twilio"
)

// Dialect returns the FlexML stream dialect called name ("carrierx" or "twilio").
func Dialect(name string) (stream.Dialect, error) {
	switch name {
	case "", "carrierx":
		return carrierx.New(), nil
	case "twilio":
		return twilio.New(), nil
	}
	return nil, fmt.Errorf("stream dialect %q: want carrierx or twilio", name)
}
