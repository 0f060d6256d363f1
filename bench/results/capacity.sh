#!/bin/sh
# T1: three fork ramps from 500 calls up to 1500, gateway and baseline in the
# same run (about 25 minutes). Run from the repository root:
#   go build -o callstream ./cmd/callstream && sh bench/results/capacity.sh
set -eu
BIN=${BIN:-./callstream}
OUT=${OUT:-bench/results}
for i in 1 2 3; do
	$BIN bench --mode fork --ramp --calls 500 --ramp-step 125 --ramp-max 1500 --rate 200 \
		--duration 30s --settle 3s --baseline --json "$OUT/fork-cap-$i.json" --plot "$OUT/fork-cap-$i.svg"
done
