#!/usr/bin/env bash
# The fleet-mesh scale run (issue 8): N `ghmesh serve` processes on loopback (each its own cache
# dir, node key and ports; mDNS off; each bootstraps to BOOTSTRAP random earlier nodes), K entries
# each fetched from a counting upstream by one random node, then DURATION seconds of lookups
# (RATE per second) from nodes not known to hold the entry, while CHURN% of the initial nodes are
# stopped (half SIGKILL, half SIGTERM) and as many fresh nodes join. Runs every mode of ROUTINGS
# with a fresh fleet each: `gossip` (discovery.methods.kademlia off: a miss asks every connected
# peer) and `kademlia` (provider records in the DHT). Prints one table with a column per mode and
# writes the JSON report to $JSON_OUT.
# Usage: tests/bench/mesh_scale.sh   (builds the release binaries)
# Env: N (default 100), K (300), DURATION (120 s), RATE (100 lookups/s), CHURN (20 %),
#      BOOTSTRAP (3), MAX_PEERS (128: ghmesh's default), CONCURRENCY (4), SEED (1),
#      ROUTINGS (default "gossip kademlia"), JSON_OUT (default $PWD/mesh-scale.json),
#      GHMESH_BIN (measure this ghmesh, do not build it),
#      PROFILE (default release: the harness's cargo profile).
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${N:-100}
K=${K:-300}
DURATION=${DURATION:-120}
RATE=${RATE:-100}
CHURN=${CHURN:-20}
BOOTSTRAP=${BOOTSTRAP:-3}
MAX_PEERS=${MAX_PEERS:-128}
CONCURRENCY=${CONCURRENCY:-4}
SEED=${SEED:-1}
ROUTINGS=${ROUTINGS:-gossip kademlia}
JSON_OUT=${JSON_OUT:-$PWD/mesh-scale.json}
PROFILE=${PROFILE:-release}

target=${CARGO_TARGET_DIR:-$PWD/target}
dir=$([[ $PROFILE == dev ]] && echo debug || echo "$PROFILE")
if [[ -n ${GHMESH_BIN:-} ]]; then
  cargo build --profile "$PROFILE" --quiet -p ghmesh-system-tests --bin mesh-scale
  ghmesh=$GHMESH_BIN
else
  cargo build --profile "$PROFILE" --quiet -p ghmesh -p ghmesh-system-tests --bin ghmesh \
    --bin mesh-scale
  ghmesh=$target/$dir/ghmesh
fi

source tests/bench/lib.sh # cwd is the repository root here
# Each node holds a listener, its peers' connections and its store: 100 nodes and the harness's
# HTTP connections need more descriptors than some shells allow.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || ulimit -n 65536 2>/dev/null || true

routing_flags=()
for r in $ROUTINGS; do routing_flags+=(--routing "$r"); done
echo "binary: $ghmesh"
echo "machine: $(nproc) CPUs, $(free -g | awk '/Mem:/ {print $2}') GiB; open files: $(ulimit -n);" \
  "load:$(uptime | sed 's/.*load average/ load average/')"
# In a session of its own, in the background: on any exit of this script the whole group (the
# harness and every node) gets SIGTERM, even if the harness itself was killed without a chance to
# stop its nodes (it stops them on SIGINT, SIGTERM, errors and panics). `exec` matters: with the
# exit trap set, bash would otherwise fork once more and $! would not be the harness's group.
(exec setsid "$target/$dir/mesh-scale" --ghmesh "$ghmesh" --nodes "$N" --paths "$K" \
  --duration-secs "$DURATION" --rate "$RATE" --churn-percent "$CHURN" \
  --bootstrap-peers "$BOOTSTRAP" --max-peers "$MAX_PEERS" --concurrency "$CONCURRENCY" \
  --seed "$SEED" --json-out "$JSON_OUT" "${routing_flags[@]}") &
harness=$!
pids+=("$harness")
trap 'kill -TERM -- "-$harness" 2>/dev/null || true; cleanup' EXIT
status=0
wait "$harness" || status=$?
echo "load at the end:$(uptime | sed 's/.*load average://'); JSON report: $JSON_OUT"
exit "$status"
