package limit

import (
	"math"
	"sync"
	"time"
)

// maxKeys bounds the sources a Buckets tracks at once. Past it, sources
// whose bucket has refilled are forgotten; when none has, new sources share
// one overflow bucket, so a spray of spoofed addresses cannot grow memory
// without bound nor escape the rate.
const maxKeys = 1 << 16

// Buckets is a token bucket per key (a source address, say): each key may
// take Burst tokens at once and Rate more per second. Safe for concurrent
// use. A Buckets with a Rate that is not positive allows everything.
type Buckets[K comparable] struct {
	rate  float64
	burst float64

	mu       sync.Mutex
	keys     map[K]*bucket
	overflow bucket
	takes    int
}

type bucket struct {
	tokens float64
	at     time.Time
}

// NewBuckets returns per-key buckets of rate tokens a second and burst
// tokens at most (at least 1).
func NewBuckets[K comparable](rate float64, burst int) *Buckets[K] {
	b := float64(max(burst, 1))
	return &Buckets[K]{rate: rate, burst: b, keys: map[K]*bucket{}, overflow: bucket{tokens: b}}
}

// Allow takes a token for key at now. When there is none it reports false
// and how long until there will be one.
func (b *Buckets[K]) Allow(key K, now time.Time) (ok bool, retryAfter time.Duration) {
	if b == nil || b.rate <= 0 {
		return true, 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	k, found := b.keys[key]
	if !found {
		b.takes++
		if len(b.keys) >= maxKeys {
			b.pruneLocked(now)
		}
		if len(b.keys) >= maxKeys {
			k = &b.overflow
		} else {
			k = &bucket{tokens: b.burst, at: now}
			b.keys[key] = k
		}
	} else if b.takes++; b.takes%4096 == 0 {
		b.pruneLocked(now)
	}
	b.refill(k, now)
	if k.tokens >= 1 {
		k.tokens--
		return true, 0
	}
	wait := time.Duration((1 - k.tokens) / b.rate * float64(time.Second))
	return false, wait
}

// refill adds the tokens earned since the bucket was last touched.
func (b *Buckets[K]) refill(k *bucket, now time.Time) {
	if k.at.IsZero() {
		k.at = now
	}
	if d := now.Sub(k.at); d > 0 {
		k.tokens = math.Min(b.burst, k.tokens+d.Seconds()*b.rate)
		k.at = now
	}
}

// pruneLocked forgets the keys whose bucket is full again: they hold no
// state worth keeping.
func (b *Buckets[K]) pruneLocked(now time.Time) {
	for key, k := range b.keys {
		b.refill(k, now)
		if k.tokens >= b.burst {
			delete(b.keys, key)
		}
	}
}

// Len returns the keys tracked now.
func (b *Buckets[K]) Len() int {
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.keys)
}

// RetryAfterSeconds rounds a wait up to whole seconds, at least 1, as a SIP
// or HTTP Retry-After value.
func RetryAfterSeconds(d time.Duration) int {
	s := int(math.Ceil(d.Seconds()))
	return max(s, 1)
}
