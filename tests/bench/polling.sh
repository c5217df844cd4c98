#!/usr/bin/env bash
# Upstream requests and rate-limit units an autoscaler-style polling fleet spends, with and without
# ghmesh: runners poll queued runs, runners and workflows of every repository each cycle against
# polling-upstream (a fake GitHub API that changes resources on a seeded timetable, answers a
# matching If-None-Match with a free 304 and charges everything else).
# Usage: tests/bench/polling.sh   (builds the release binaries)
# Env: CYCLES (default 40), PERIOD_MS (default 1000), REPOS (default 3), SEED (default 1),
#      FLEET (default 5: runners in the fleet runs), JSON_DIR (keep each run's JSON report there),
#      PARTS (default "cache mesh": which groups of runs below), MESH_CYCLES (default 25: cycles
#      of the mesh runs, shorter since they start up to 20 serves), MESH_FLEETS (default "5 20").
#
# Part "cache":
# Runs, each a fresh upstream per mode (same timetable from its start):
#   1. one runner: no cache vs one ghmesh serve, default TTLs (the API-cache issue's figure);
#   2. one runner through ghmesh with workflow-runs and runners TTL 0 (always revalidate);
#   3. FLEET runners, a token each: no cache vs a serve per runner vs one shared serve;
#   4. the same with one token for the whole fleet;
#   5. 4 with TTL 0 for workflow-runs and runners;
#   6. FLEET runners, a token each, one shared serve, upstream sending Last-Modified (GitHub does
#      not on these lists): ghmesh can revalidate another token's entry for free;
#   7. 6 with TTL 0 for workflow-runs and runners.
# Part "mesh" (the fleet benchmark of docs/mesh.md), for each N in MESH_FLEETS, one token for
# the fleet (an autoscaler fleet shares one app token):
#   8. N runners: no cache vs a serve per runner vs a serve per runner joined in a fleet mesh;
#   9. 8 with TTL 0 for workflow-runs and runners, without the direct run (no cache is the same
#      whatever the TTLs: every plain GET is charged, so "saved" is against the request count).
# "saved" is against the direct run where there is one, otherwise against the request count
# (without a cache every plain GET is charged; run 1 and 3 show it).
set -euo pipefail
cd "$(dirname "$0")/../.."
CYCLES=${CYCLES:-40}
PERIOD_MS=${PERIOD_MS:-1000}
REPOS=${REPOS:-3}
SEED=${SEED:-1}
FLEET=${FLEET:-5}
PARTS=${PARTS:-cache mesh}
MESH_CYCLES=${MESH_CYCLES:-25}
MESH_FLEETS=${MESH_FLEETS:-5 20}
cargo build --release --quiet -p ghmesh -p ghmesh-system-tests --bins
bin=${CARGO_TARGET_DIR:-$PWD/target}/release
json_dir=${JSON_DIR:-$(mktemp -d)}
mkdir -p "$json_dir"

echo "machine: $(nproc) CPUs; load:$(uptime | sed 's/.*load average/ load average/')"
run() { # name, cycles, then polling-fleet flags
  local name=$1 cycles=$2
  shift 2
  echo
  echo "== $name: polling-fleet --cycles $cycles --period-ms $PERIOD_MS --repos $REPOS --seed $SEED $*"
  echo "   (load:$(uptime | sed 's/.*load average://'))"
  "$bin/polling-fleet" --ghmesh "$bin/ghmesh" --cycles "$cycles" --period-ms "$PERIOD_MS" \
    --repos "$REPOS" --seed "$SEED" --json-out "$json_dir/$name.json" "$@"
}
ttl0=(--ttl workflow-runs=0 --ttl runners=0)
if [[ " $PARTS " == *" cache "* ]]; then
  run 1-one-runner "$CYCLES" --runners 1 --compare --mode shared
  run 2-one-runner-ttl0 "$CYCLES" --runners 1 --mode shared "${ttl0[@]}"
  run 3-fleet-own-tokens "$CYCLES" --runners "$FLEET" --compare --mode per-runner --mode shared
  run 4-fleet-one-token "$CYCLES" --runners "$FLEET" --tokens fleet --mode per-runner --mode shared
  run 5-fleet-one-token-ttl0 "$CYCLES" --runners "$FLEET" --tokens fleet --mode per-runner \
    --mode shared "${ttl0[@]}"
  run 6-fleet-own-tokens-last-modified "$CYCLES" --runners "$FLEET" --mode shared --last-modified
  run 7-fleet-own-tokens-last-modified-ttl0 "$CYCLES" --runners "$FLEET" --mode shared \
    --last-modified "${ttl0[@]}"
fi
if [[ " $PARTS " == *" mesh "* ]]; then
  for n in $MESH_FLEETS; do
    run "8-mesh-$n" "$MESH_CYCLES" --runners "$n" --tokens fleet --compare --mode per-runner \
      --mode mesh
    run "9-mesh-$n-ttl0" "$MESH_CYCLES" --runners "$n" --tokens fleet --mode per-runner \
      --mode mesh "${ttl0[@]}"
  done
fi
echo
echo "JSON reports: $json_dir"
