package call

import "github.com/callstream/callstream/internal/codec"

// Format returns the format of every frame inside the call: what taps get
// and sources fill. The call carries µ-law inside whatever the caller's
// codec (A-law is converted at the RTP edge).
func (c *Call) Format() codec.Format { return codec.PCMU }
