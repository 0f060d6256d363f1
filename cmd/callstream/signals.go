package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// notifyStages turns SIGTERM and SIGINT into two stages. The context it
// returns ends at the first signal: serve then drains (live calls go on,
// new ones are refused), other commands stop. It carries a second context
// (see cutOf) that ends at the second signal: serve then ends every call at
// once. release stops listening for the signals.
func notifyStages() (ctx context.Context, release func()) {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	first, endFirst := context.WithCancel(context.Background())
	cut, endCut := context.WithCancel(context.Background())
	done := make(chan struct{})
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		for n := 1; ; n++ {
			select {
			case <-sigs:
			case <-done:
				return
			}
			if n == 1 {
				endFirst()
				continue
			}
			endCut()
			return
		}
	}()
	return withCut(first, cut), func() {
		signal.Stop(sigs)
		close(done)
		<-ended
		endFirst()
		endCut()
	}
}

type cutKey struct{}

// withCut returns ctx carrying cut, the context whose end means "stop at
// once" (see cutOf).
func withCut(ctx, cut context.Context) context.Context {
	return context.WithValue(ctx, cutKey{}, cut)
}

// cutOf returns the context that ends when everything must stop at once:
// the one withCut stored in ctx, or ctx itself when there is none (its end
// is then both the request to drain and the cut).
func cutOf(ctx context.Context) context.Context {
	if c, ok := ctx.Value(cutKey{}).(context.Context); ok {
		return c
	}
	return ctx
}
