package gateway

import (
	"fmt"

	"github.com/callstream/callstream/internal/nodeid"
	"github.com/callstream/callstream/internal/webhook"
)

// newCallSid returns a new call id: Twilio's form under a Twilio dialect,
// else a UUID; either carries the tag of the node (nodeid).
func (g *Gateway) newCallSid() string {
	if g.twilioSids {
		return nodeid.NewTwilioSid(g.cfg.NodeID)
	}
	return nodeid.NewUUIDSid(g.cfg.NodeID)
}

// checkTwilio checks and completes the Twilio settings of cfg: the
// AccountSid's shape, its default under a Twilio dialect (logged), and a
// warning for unsigned Twilio requests. It reports whether a Twilio dialect
// is on.
func checkTwilio(cfg *Config) (bool, error) {
	if cfg.AccountSid != "" {
		if err := webhook.CheckAccountSid(cfg.AccountSid); err != nil {
			return false, fmt.Errorf("--account-sid: %w", err)
		}
	}
	twilio := cfg.AppDialect == webhook.Twilio || cfg.Dialect != nil && cfg.Dialect.Name() == "twilio"
	if !twilio || cfg.Controller != nil {
		return false, nil
	}
	if cfg.AccountSid == "" {
		cfg.AccountSid = webhook.DefaultAccountSid
		cfg.Logger.Info("twilio dialect: no --account-sid given, requests and streams carry a placeholder", "account_sid", cfg.AccountSid)
	}
	if cfg.AppDialect == webhook.Twilio && cfg.AuthToken == "" {
		cfg.Logger.Warn("twilio app dialect without --auth-token: requests to the app are not signed (no X-Twilio-Signature)")
	}
	return true, nil
}
