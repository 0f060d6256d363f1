#!/usr/bin/env bash
# Runs every test of callstream. Installs the third-party tools the tests use
# (SIPp from Debian's sip-tester package, Kamailio for the fleet tests,
# Chromium for the dashboard test, espeak-ng for scenario TTS, libopus and SpanDSP for the cgo codec builds)
# when they are missing, so the suite runs whole on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v sipp >/dev/null 2>&1 || missing+=(sip-tester)
# Kamailio's dispatcher in front of several nodes (test/fleet); it lives in sbin.
PATH="$PATH:/usr/sbin:/usr/local/sbin"
command -v kamailio >/dev/null 2>&1 || missing+=(kamailio)
command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)   # scenario say / TTS players
command -v chromium >/dev/null 2>&1 || missing+=(chromium)     # the live dashboard in a headless browser (test/dashboard)
# The OPUS encoding of the scenario WebSocket module (build tag opus, cgo).
command -v gcc >/dev/null 2>&1 || missing+=(gcc)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
{ command -v pkg-config >/dev/null 2>&1 && pkg-config --exists opus; } || missing+=(libopus-dev)
# SpanDSP's G.722, the reference the codec package's is checked against (build tag spandsp, cgo).
{ command -v pkg-config >/dev/null 2>&1 && pkg-config --exists spandsp; } || missing+=(libspandsp-dev)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
command -v sipp >/dev/null 2>&1 || { echo "sipp is still missing" >&2; exit 1; }
command -v kamailio >/dev/null 2>&1 || { echo "kamailio is still missing" >&2; exit 1; }
command -v chromium >/dev/null 2>&1 || { echo "chromium is still missing" >&2; exit 1; }

# Tests that need SIPp, Kamailio or Chromium fail (never skip) when it is absent under CI=true.
export CI="${CI:-true}"

go vet ./...
# Compile every test binary in parallel first. Then four groups run:
# - units (parsers, codecs, stores, clients), two packages at a time;
# - the packages that measure real-time pacing or latency (the media
#   clock, RTP timing, the stream engine's playout, the benchmark), one at
#   a time: two of them sharing two cores would measure each other;
# - test/edge alone: its attack tests flood a gateway while they check
#   other calls' streams byte for byte;
# - the other packages that run whole calls over sockets and processes,
#   two at a time: they wait on calls far more than they compute (a run of
#   them keeps the CPUs about a quarter busy), and their processes hold
#   300 ms jitter buffers, so a neighbour's burst conceals nothing.
go test -count=1 -run '^$' ./... >/dev/null
timing='/(test/media|cmd/callstream|bench(/baseline)?|internal/(gateway|call|stream|rtpio|jitter))$'
calls='/(test/[a-z]+|internal/(scenario|sip|sipcaller|servetest|connlimit|flow))$'
go test -count=1 -p 2 $(go list ./... | grep -Ev "$timing" | grep -Ev "$calls")
go test -count=1 -p 1 -timeout 9m $(go list ./... | grep -E "$timing")
go test -count=1 -p 1 -timeout 9m ./test/edge/
go test -count=1 -p 2 -timeout 9m $(go list ./... | grep -Ev "$timing" | grep -E "$calls" | grep -v '/test/edge$')
# The OPUS paths, in a build with the codec.
go test -count=1 -tags opus,nolibopusfile ./internal/codec/
go test -count=1 -tags opus,nolibopusfile -run Opus ./internal/sipcaller/
# An Opus caller through a real process, besides the G.722 one.
go test -count=1 -tags opus,nolibopusfile -run 'TestWidebandCallers' ./test/media/
go test -count=1 -tags opus,nolibopusfile -run 'Opus|TestCallLimitsAndErrors|TestRemoteMediaRefused' ./internal/scenario/
# G.722 bit for bit against SpanDSP's encoder and decoder.
go test -count=1 -tags spandsp -run 'SpanDSP' ./internal/codec/
# The concurrent core once more under the race detector, and the tests of
# the gateway and the scenario runtime that exercise concurrency rather than
# timing (the detector slows code too much for the pacing checks).
# (The session timers' two tests wait out real refresh intervals: they ran above.)
go test -count=1 -race -skip 'TestGatewayRefreshesSession|TestSessionRefreshKeepsCall' ./internal/stream/... ./internal/rtpio/ ./internal/sip/ ./internal/flow/
go test -count=1 -race -run 'TestConnect|TestStop|TestRestartSameName|TestStreamLimit|TestAppFailureAffectsNoOtherCall|TestTwilioStatusCallbackError' ./internal/gateway/
go test -count=1 -race -run 'TestParallelSessionsIsolated|TestWebSocketLifecycle|TestWebSocketCloseCodes|TestTimers|TestEventListeners|TestIncomingWebSockets|TestThrowingScript' ./internal/scenario/

# Every fuzz target for FUZZTIME (2 s by default), two at a time with one
# worker each: the seed corpus already ran with the tests above; this
# explores beyond it. A failure prints the fuzzer's report and fails the run.
fuzztime="${FUZZTIME:-2s}"
for dir in $(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do
  for target in $(grep -h --include='*_test.go' -o '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go | sed 's/^func //' | sort -u); do
    echo "$dir $target"
  done
done | xargs -P 2 -L 1 sh -c '
  echo "fuzz $0 $1 ('"$fuzztime"')"
  for try in 1 2; do
    out=$(go test -run "^\$" -fuzz "^$1\$" -fuzztime '"$fuzztime"' -parallel 1 "$0" 2>&1) && exit 0
    # The fuzzer timing out while it reads its corpus on a busy machine
    # is not a finding (no failing input): run the target once more.
    case "$out" in *"Failing input written"*) break ;; *"context deadline exceeded"*) continue ;; esac
    break
  done
  echo "$out"; exit 255'
