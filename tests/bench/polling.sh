#!/usr/bin/env bash
# Upstream requests and rate-limit units an autoscaler-style polling fleet spends, with and without
# ghmesh: runners poll queued runs, runners and workflows of every repository each cycle against
# polling-upstream (a fake GitHub API that changes resources on a seeded timetable, answers a
# matching If-None-Match with a free 304 and charges everything else).
# Usage: tests/bench/polling.sh   (builds the release binaries)
# Env: CYCLES (default 40), PERIOD_MS (default 1000), REPOS (default 3), SEED (default 1),
#      FLEET (default 5: runners in the fleet runs), JSON_DIR (keep each run's JSON report there).
#
# Runs, each a fresh upstream per mode (same timetable from its start):
#   1. one runner: no cache vs one ghmesh serve, default TTLs (the API-cache issue's figure);
#   2. one runner through ghmesh with workflow-runs and runners TTL 0 (always revalidate);
#   3. FLEET runners, a token each: no cache vs a serve per runner vs one shared serve;
#   4. the same with one token for the whole fleet;
#   5. 4 with TTL 0 for workflow-runs and runners;
#   6. FLEET runners, a token each, one shared serve, upstream sending Last-Modified (GitHub does
#      not on these lists): ghmesh can revalidate another token's entry for free;
#   7. 6 with TTL 0 for workflow-runs and runners.
# "saved" is against the direct run where there is one, otherwise against the request count
# (without a cache every plain GET is charged; run 1 and 3 show it).
set -euo pipefail
cd "$(dirname "$0")/../.."
CYCLES=${CYCLES:-40}
PERIOD_MS=${PERIOD_MS:-1000}
REPOS=${REPOS:-3}
SEED=${SEED:-1}
FLEET=${FLEET:-5}
cargo build --release --quiet -p ghmesh -p ghmesh-system-tests --bins
bin=${CARGO_TARGET_DIR:-$PWD/target}/release
json_dir=${JSON_DIR:-$(mktemp -d)}
mkdir -p "$json_dir"

echo "machine: $(nproc) CPUs; load:$(uptime | sed 's/.*load average/ load average/')"
run() { # name, then polling-fleet flags
  local name=$1
  shift
  echo
  echo "== $name: polling-fleet --cycles $CYCLES --period-ms $PERIOD_MS --repos $REPOS --seed $SEED $*"
  "$bin/polling-fleet" --ghmesh "$bin/ghmesh" --cycles "$CYCLES" --period-ms "$PERIOD_MS" \
    --repos "$REPOS" --seed "$SEED" --json-out "$json_dir/$name.json" "$@"
}
ttl0=(--ttl workflow-runs=0 --ttl runners=0)
run 1-one-runner --runners 1 --compare --mode shared
run 2-one-runner-ttl0 --runners 1 --mode shared "${ttl0[@]}"
run 3-fleet-own-tokens --runners "$FLEET" --compare --mode per-runner --mode shared
run 4-fleet-one-token --runners "$FLEET" --tokens fleet --mode per-runner --mode shared
run 5-fleet-one-token-ttl0 --runners "$FLEET" --tokens fleet --mode per-runner --mode shared "${ttl0[@]}"
run 6-fleet-own-tokens-last-modified --runners "$FLEET" --mode shared --last-modified
run 7-fleet-own-tokens-last-modified-ttl0 --runners "$FLEET" --mode shared --last-modified "${ttl0[@]}"
echo
echo "JSON reports: $json_dir"
