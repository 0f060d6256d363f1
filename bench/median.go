package bench

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
)

// MergeReports combines reports of repeated runs of the same load into one:
// each step (a number of calls) holds the median of every figure over the
// runs that measured it, Held is the median of the runs' Held, and each
// gateway/baseline ratio is the median of the ratios of the same runs.
// Runs says how many reports were merged.
func MergeReports(reps []*Report) (*Report, error) {
	if len(reps) == 0 {
		return nil, fmt.Errorf("%w: no reports to merge", ErrConfig)
	}
	out := &Report{Date: reps[0].Date, Machine: reps[0].Machine, Command: reps[0].Command, Runs: len(reps)}
	var gws, bases []*Result
	for _, r := range reps {
		if r.Gateway != nil {
			gws = append(gws, r.Gateway)
		}
		if r.Baseline != nil {
			bases = append(bases, r.Baseline)
		}
		if r.Date.After(out.Date) {
			out.Date = r.Date
		}
	}
	out.Gateway = medianResult(gws)
	out.Baseline = medianResult(bases)
	// Ratios: the median, over runs, of each run's own ratio.
	type key struct {
		calls  int
		metric string
	}
	byKey := map[key][]Ratio{}
	var order []key
	for _, r := range reps {
		for _, q := range r.Ratios {
			k := key{q.Calls, q.Metric}
			if _, ok := byKey[k]; !ok {
				order = append(order, k)
			}
			byKey[k] = append(byKey[k], q)
		}
	}
	sort.SliceStable(order, func(i, j int) bool { return order[i].calls < order[j].calls })
	for _, k := range order {
		qs := byKey[k]
		var g, b, ratio []float64
		for _, q := range qs {
			g, b, ratio = append(g, q.Gateway), append(b, q.Baseline), append(ratio, q.Ratio)
		}
		out.Ratios = append(out.Ratios, Ratio{Calls: k.calls, Metric: k.metric, Gateway: median(g), Baseline: median(b),
			Ratio: median(ratio), Runs: len(qs)})
	}
	return out, nil
}

// medianResult merges results of the same target step by step.
func medianResult(rs []*Result) *Result {
	if len(rs) == 0 {
		return nil
	}
	out := *rs[0]
	out.Steps = nil
	var held []float64
	calls := map[int][]Step{}
	for _, r := range rs {
		held = append(held, float64(r.Held))
		for _, s := range r.Steps {
			calls[s.Calls] = append(calls[s.Calls], s)
		}
	}
	out.Held = int(median(held))
	ns := make([]int, 0, len(calls))
	for n := range calls {
		ns = append(ns, n)
	}
	slices.Sort(ns)
	for _, n := range ns {
		var st Step
		medianInto(reflect.ValueOf(&st).Elem(), stepValues(calls[n]))
		st.Runs = len(calls[n])
		st.Why = ""
		if held := countHeld(calls[n]); held < st.Runs {
			st.Why = fmt.Sprintf("held in %d of %d runs", held, st.Runs)
		}
		out.Steps = append(out.Steps, st)
	}
	totals := make([]reflect.Value, len(rs))
	for i, r := range rs {
		totals[i] = reflect.ValueOf(r.Totals)
	}
	medianInto(reflect.ValueOf(&out.Totals).Elem(), totals)
	return &out
}

func stepValues(steps []Step) []reflect.Value {
	vs := make([]reflect.Value, len(steps))
	for i := range steps {
		vs[i] = reflect.ValueOf(steps[i])
	}
	return vs
}

// medianInto sets each number in dst to the median of the same field in
// vs, each bool to the majority, each pointer to the median of the non-nil
// ones; anything else is taken from the first value.
func medianInto(dst reflect.Value, vs []reflect.Value) {
	switch dst.Kind() {
	case reflect.Struct:
		for i := range dst.NumField() {
			if !dst.Field(i).CanSet() {
				continue
			}
			fs := make([]reflect.Value, len(vs))
			for j, v := range vs {
				fs[j] = v.Field(i)
			}
			medianInto(dst.Field(i), fs)
		}
	case reflect.Pointer:
		var set []reflect.Value
		for _, v := range vs {
			if !v.IsNil() {
				set = append(set, v.Elem())
			}
		}
		if len(set) == 0 {
			return
		}
		p := reflect.New(dst.Type().Elem())
		medianInto(p.Elem(), set)
		dst.Set(p)
	case reflect.Float64, reflect.Float32:
		xs := make([]float64, len(vs))
		for i, v := range vs {
			xs[i] = v.Float()
		}
		dst.SetFloat(median(xs))
	case reflect.Int, reflect.Int64, reflect.Int32:
		xs := make([]float64, len(vs))
		for i, v := range vs {
			xs[i] = float64(v.Int())
		}
		dst.SetInt(int64(median(xs)))
	case reflect.Uint64, reflect.Uint32, reflect.Uint:
		xs := make([]float64, len(vs))
		for i, v := range vs {
			xs[i] = float64(v.Uint())
		}
		dst.SetUint(uint64(median(xs)))
	case reflect.Bool:
		n := 0
		for _, v := range vs {
			if v.Bool() {
				n++
			}
		}
		dst.SetBool(2*n > len(vs))
	default:
		dst.Set(vs[0])
	}
}

// median returns the median of xs (the mean of the middle two for an even
// count), 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

func countHeld(steps []Step) int {
	n := 0
	for _, s := range steps {
		if s.Held {
			n++
		}
	}
	return n
}
