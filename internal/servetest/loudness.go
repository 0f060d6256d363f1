package servetest

import "math"

// Loudness is what a call heard, 20 ms frame by frame (see Measure).
type Loudness struct {
	Frames      int     // whole frames heard
	Loud        int     // frames whose RMS is above the threshold
	First, Last int     // first and last loud frame (-1: none)
	LoudRMS     float64 // RMS over the loud frames together
}

// Measure cuts pcm (what a caller heard, decoded at rate) into 20 ms
// frames and counts those whose RMS is above threshold: how much of a
// prompt was heard, where, and how loud.
func Measure(pcm []int16, rate int, threshold float64) Loudness {
	n := rate / 50
	l := Loudness{First: -1, Last: -1}
	var loudSum float64
	for i := 0; n > 0 && i+n <= len(pcm); i += n {
		var sum float64
		for _, v := range pcm[i : i+n] {
			sum += float64(v) * float64(v)
		}
		if math.Sqrt(sum/float64(n)) > threshold {
			if l.First < 0 {
				l.First = l.Frames
			}
			l.Last = l.Frames
			l.Loud++
			loudSum += sum
		}
		l.Frames++
	}
	if l.Loud > 0 {
		l.LoudRMS = math.Sqrt(loudSum / float64(l.Loud*n))
	}
	return l
}
