package gateway

import "github.com/callstream/callstream/internal/scenario"

// WithScenario makes cfg run the scenario runtime rt for every call instead
// of FlexML, and serve its HTTP routes (POST /scenarios and recordings
// behind the API tokens, the sessions' access URLs open) beside any routes
// cfg already has. rt's sessions may outlive calls: close rt after the
// gateway's Run returns.
func WithScenario(cfg *Config, rt *scenario.Runtime) {
	cfg.Controller = rt
	prev := cfg.Routes
	cfg.Routes = func(r *Router) {
		if prev != nil {
			prev(r)
		}
		rt.Routes(r)
	}
}
