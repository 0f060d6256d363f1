package scenario

import (
	"sort"

	"github.com/callstream/callstream/internal/media"
)

// maxMarkers bounds the markers one player holds.
const maxMarkers = 64

// marker is a point of a player's clip where PlaybackMarkerReached fires:
// ms as addMarker was given it, pos the byte of the 8 kHz µ-law clip.
type marker struct {
	ms  int64
	pos int
}

// addMarker adds a playback marker ms milliseconds from the start of the
// clip, or from its end when negative (Voximplant's Player.addMarker).
// Markers beyond the clip never fire.
func (p *player) addMarker(ms int64) {
	if p.ended {
		return
	}
	if len(p.markMs) >= maxMarkers {
		p.s.log.Warn("player.addMarker: too many markers", "player", p.id, "max", maxMarkers)
		return
	}
	p.markMs = append(p.markMs, ms)
	p.placeMarkers()
}

// placeMarkers turns the markers' offsets into positions once the clip is
// known; the ones already passed are not fired again.
func (p *player) placeMarkers() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.data == nil {
		return
	}
	marks := make([]marker, 0, len(p.markMs))
	for _, ms := range p.markMs {
		pos := ms * media.SampleRate / 1000
		if ms < 0 {
			pos += int64(len(p.data))
		}
		if pos < 0 || pos > int64(len(p.data)) {
			continue
		}
		marks = append(marks, marker{ms: ms, pos: int(pos)})
	}
	sort.SliceStable(marks, func(i, j int) bool { return marks[i].pos < marks[j].pos })
	p.marks = marks
	p.markNext = 0
	for p.markNext < len(marks) && marks[p.markNext].pos < p.pos {
		p.markNext++
	}
}

// markerReached fires PlaybackMarkerReached {offset}.
func (p *player) markerReached(ms int64) {
	if p.ended || p.obj == nil {
		return
	}
	p.s.dispatch(p.et, evPlayerMarker, p.event(evPlayerMarker, "offset", ms))
}
