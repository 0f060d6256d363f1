#!/bin/sh
# Reproduces the figures of BENCHMARKS.md: three runs of each load, the
# gateway and the baseline relay in the same run. Run from the repository
# root on an otherwise idle machine; takes about 45 minutes.
#   go build -o callstream ./cmd/callstream && sh bench/results/run.sh
set -eu
BIN=${BIN:-./callstream}
OUT=${OUT:-bench/results}
for i in 1 2 3; do
	# T1, T1b, T3, T4 (fork): 250, 375, 500, ... calls until a step fails.
	$BIN bench --mode fork --ramp --calls 250 --ramp-step 125 --ramp-max 1000 --rate 200 \
		--duration 30s --settle 3s --baseline --json "$OUT/fork-ramp-$i.json" --plot "$OUT/fork-ramp-$i.svg"
	# T2, T4 (bidi): 125, 250, ... calls until a step fails.
	$BIN bench --mode bidi --ramp --calls 125 --ramp-step 125 --ramp-max 750 --rate 200 \
		--duration 30s --settle 3s --baseline --json "$OUT/bidi-ramp-$i.json" --plot "$OUT/bidi-ramp-$i.svg"
	# T5: 600 calls offered at 300 calls/s.
	$BIN bench --mode fork --calls 600 --rate 300 --duration 5s --baseline --json "$OUT/setup-$i.json"
	# both tracks while a prompt plays (no target; for the record).
	$BIN bench --mode both-tracks --calls 250 --duration 30s --settle 3s --baseline --json "$OUT/both-$i.json"
done
# Profiles of the gateway and the baseline (a separate run: profiling costs CPU).
mkdir -p "$OUT/profiles"
$BIN bench --mode fork --calls 500 --duration 30s --settle 3s --baseline --profile-dir "$OUT/profiles" --json "$OUT/profiles/fork-500.json"
$BIN bench --mode bidi --calls 250 --duration 30s --settle 3s --baseline --profile-dir "$OUT/profiles" --json "$OUT/profiles/bidi-250.json"
