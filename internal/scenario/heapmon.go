package scenario

import (
	"fmt"
	"runtime"
	"runtime/metrics"
	"sync"
	"time"

	"github.com/dop251/goja"
)

// goja has no heap limit of its own. A runtime bounds what one callback
// may allocate in two ways:
//
//   - the heap monitor (this file) samples the process heap every
//     heapSampleEvery while any callback runs, and interrupts a callback
//     during which the heap grew by more than the limit; before it does, it
//     collects garbage once so that only memory really held counts;
//   - the allocation guards (heapguard.go) check the size of what one
//     built-in call would allocate at once ('x'.repeat(1e9), typed arrays,
//     join of a huge array, ...) before goja allocates it, since a single
//     native call cannot be interrupted.
//
// Both end the session: the interrupt cannot be caught by the script.

const (
	// heapSampleEvery is how often the heap is sampled while callbacks run.
	heapSampleEvery = 5 * time.Millisecond
	// heapGCEvery bounds how often the monitor forces a collection to
	// confirm a suspected excess.
	heapGCEvery = 50 * time.Millisecond
	// heapMetric is the live and not yet swept heap objects, in bytes.
	heapMetric = "/memory/classes/heap/objects:bytes"
)

// heapMonitor watches the heap while callbacks run. One goroutine, owned
// by the Runtime (close ends it), samples only while a callback is
// watched.
type heapMonitor struct {
	limit int64

	mu      sync.Mutex
	watches map[*heapWatch]struct{}
	wake    chan struct{} // cap 1: the first watch was added
	done    chan struct{}
	stopped chan struct{}
	once    sync.Once
}

// heapWatch is one running callback: its runtime and the heap when it
// started. Each session has one, reused for every callback.
type heapWatch struct {
	vm     *goja.Runtime
	base   uint64
	sample []metrics.Sample // the session's own, read on its loop
}

func newHeapMonitor(limit int64) *heapMonitor {
	m := &heapMonitor{
		limit:   limit,
		watches: map[*heapWatch]struct{}{},
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	go m.run()
	return m
}

// newWatch returns the watch of one session's runtime.
func (m *heapMonitor) newWatch(vm *goja.Runtime) *heapWatch {
	if m == nil {
		return nil
	}
	return &heapWatch{vm: vm, sample: []metrics.Sample{{Name: heapMetric}}}
}

// heapBytes reads the heap objects' bytes into sample.
func heapBytes(sample []metrics.Sample) uint64 {
	metrics.Read(sample)
	if sample[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return sample[0].Value.Uint64()
}

// watch starts watching w's callback, from the heap as it is now.
func (m *heapMonitor) watch(w *heapWatch) {
	if m == nil {
		return
	}
	w.base = heapBytes(w.sample)
	m.mu.Lock()
	m.watches[w] = struct{}{}
	first := len(m.watches) == 1
	m.mu.Unlock()
	if first {
		select {
		case m.wake <- struct{}{}:
		default:
		}
	}
}

// unwatch stops watching w: its callback has returned. After unwatch the
// monitor no longer interrupts w's runtime.
func (m *heapMonitor) unwatch(w *heapWatch) {
	if m == nil {
		return
	}
	m.mu.Lock()
	delete(m.watches, w)
	m.mu.Unlock()
}

// close stops the monitor and waits for it.
func (m *heapMonitor) close() {
	if m == nil {
		return
	}
	m.once.Do(func() { close(m.done) })
	<-m.stopped
}

// run samples the heap every heapSampleEvery while a callback is watched.
func (m *heapMonitor) run() {
	defer close(m.stopped)
	sample := []metrics.Sample{{Name: heapMetric}}
	var lastGC time.Time
	tick := time.NewTimer(heapSampleEvery)
	defer tick.Stop()
	for {
		m.mu.Lock()
		idle := len(m.watches) == 0
		m.mu.Unlock()
		if idle {
			select {
			case <-m.wake:
			case <-m.done:
				return
			}
		}
		tick.Reset(heapSampleEvery)
		select {
		case <-tick.C:
		case <-m.done:
			return
		}
		if !m.over(heapBytes(sample)) || time.Since(lastGC) < heapGCEvery {
			continue
		}
		// Garbage may be what grew: collect it, then judge what is held.
		runtime.GC()
		lastGC = time.Now()
		m.interruptOver(heapBytes(sample))
	}
}

// over reports whether a watched callback saw the heap grow past the limit.
func (m *heapMonitor) over(now uint64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for w := range m.watches {
		if int64(now)-int64(w.base) > m.limit {
			return true
		}
	}
	return false
}

// interruptOver interrupts every watched callback that saw the heap grow
// past the limit.
func (m *heapMonitor) interruptOver(now uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for w := range m.watches {
		if grew := int64(now) - int64(w.base); grew > m.limit {
			w.vm.Interrupt(fmt.Errorf("%w: the heap grew by %s during one callback, over the limit of %s", ErrHeapLimit, mib(float64(grew)), mib(float64(m.limit))))
			delete(m.watches, w)
		}
	}
}

// mib formats bytes in MiB.
func mib(b float64) string { return fmt.Sprintf("%.0f MiB", b/(1<<20)) }
