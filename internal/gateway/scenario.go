package gateway

import (
	"net/http"

	"github.com/callstream/callstream/internal/scenario"
)

// WithScenario makes cfg run the scenario runtime rt for every call instead
// of FlexML, and serve its HTTP routes (POST /scenarios, the sessions'
// access URLs, recordings) beside any routes cfg already has. rt's sessions
// may outlive calls: close rt after the gateway's Run returns.
func WithScenario(cfg *Config, rt *scenario.Runtime) {
	cfg.Controller = rt
	prev := cfg.Routes
	cfg.Routes = func(mux *http.ServeMux) {
		if prev != nil {
			prev(mux)
		}
		rt.Routes(mux)
	}
}
