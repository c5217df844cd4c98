#!/usr/bin/env bash
# Filling the store: N distinct GETs (every one a miss that is stored) through `ghmesh serve` from
# a few concurrent clients (curl --parallel, keep-alive); then RSS, the store's entry count, and,
# after a restart, that every entry is still there and served from the store.
# Usage: tests/bench/store_fill.sh   (builds the release binary)
# Env: N (default 10000), CLIENTS (default 8), GHMESH_BIN (measure this binary, do not build).
#
# The upstream is a python ThreadingHTTPServer on loopback answering each path with its own
# small JSON body (~300 bytes) and GitHub-like headers. The cache dir is a fresh temporary
# directory on the disk mktemp uses, so every commit pays that disk's real fsync.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${N:-10000}
CLIENTS=${CLIENTS:-8}

command -v curl >/dev/null || { apt-get update -qq && apt-get install -y -qq curl >/dev/null; }
if [[ -n ${GHMESH_BIN:-} ]]; then
  bin=$GHMESH_BIN
else
  cargo build --release -p ghmesh --quiet
  bin=${CARGO_TARGET_DIR:-$PWD/target}/release/ghmesh
fi

source tests/bench/lib.sh   # cwd is the repository root here
now() { date +%s.%N; }

# --- upstream: one distinct small JSON body per path --------------------------------------------
upstream_port=$(free_port)
python3 - "$upstream_port" >"$work/upstream.log" 2>&1 <<'PY' &
import json, sys, zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, the body waits for the client's
    # delayed ACK (~40 ms a request on keep-alive), which would be all this benchmark measures.
    disable_nagle_algorithm = True
    def do_GET(self):
        n = zlib.crc32(self.path.encode())
        name = self.path.rsplit("/", 1)[-1]
        body = json.dumps({"id": n, "node_id": f"MDEwOlJlcG9zaXRvcnk{n}", "name": name,
                           "full_name": f"bench/{name}", "private": False,
                           "url": f"https://api.github.com{self.path}",
                           "description": "store fill benchmark", "default_branch": "main",
                           "stargazers_count": n % 1000, "topics": ["bench"]}).encode()
        self.send_response(200)
        for k, v in [("content-type", "application/json; charset=utf-8"),
                     ("content-length", str(len(body))), ("etag", f'W/"{n:08x}"'),
                     ("cache-control", "private, max-age=60, s-maxage=60"),
                     ("x-ratelimit-limit", "5000"), ("x-ratelimit-remaining", "4999"),
                     ("x-ratelimit-reset", "4102444800"), ("x-ratelimit-resource", "core")]:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass

ThreadingHTTPServer.daemon_threads = True
server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
print("upstream ready", flush=True)
server.serve_forever()
PY
pids+=($!)
wait_for "$work/upstream.log" "upstream ready"
upstream=http://127.0.0.1:$upstream_port
cache=$work/cache

start_serve() { # log-name
  "$bin" --cache-dir "$cache" serve --listen 127.0.0.1:0 --upstream "$upstream" \
    >"$work/$1.out" 2>"$work/$1.err" &
  serve_pid=$!
  pids+=("$serve_pid")
  wait_for "$work/$1.out" "ghmesh serving http://"
  url=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$work/$1.out" | head -1)
}
stop_serve() { # graceful: SIGTERM, then wait for the exit
  kill -TERM "$serve_pid"
  wait "$serve_pid" || { echo "serve exited with $?" >&2; cat "$work"/*.err >&2; exit 1; }
}
# N requests for the N distinct paths, CLIENTS at a time; one "status x-cache" line each.
requests() { # out-file
  for ((i = 0; i < N; i++)); do
    printf 'url = "%s/repos/bench/r%05d"\noutput = "/dev/null"\n' "$url" "$i"
  done >"$work/urls.cfg"
  curl -s --no-progress-meter --parallel --parallel-max "$CLIENTS" -H 'Authorization: token bench' \
    -H 'Accept: application/vnd.github+json' -w '%{http_code} %header{x-cache}\n' \
    -K "$work/urls.cfg" >"$1" 2>"$work/curl.err"
}
count() { grep -c "$2" "$1" || true; }
committed() { curl -s "$url/_ghmesh/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["cache_size"])'; }
vm() { awk -v k="$2:" '$1 == k {printf "%.1f MB", $2 / 1024}' "/proc/$1/status"; }

echo "binary: $bin"
echo "machine: $(nproc) CPUs; load:$(uptime | sed 's/.*load average/ load average/'); cache dir on $(df --output=source,fstype "$work" | tail -1)"
echo

# --- fill ---------------------------------------------------------------------------------------
start_serve fill
t0=$(now)
requests "$work/fill.txt"
t1=$(now)
# The client has every answer; the last writes may still be queued (write-behind).
while [[ $(committed) -lt $N ]] && awk -v a="$(now)" -v b="$t1" 'BEGIN { exit !(a - b < 120) }'; do
  sleep 0.05
done
t2=$(now)
misses=$(count "$work/fill.txt" '^200 MISS')
rss=$(vm "$serve_pid" VmRSS)
hwm=$(vm "$serve_pid" VmHWM)
entries=$(committed)
stop_serve
awk -v n="$N" -v c="$CLIENTS" -v m="$misses" -v a="$t0" -v b="$t1" -v d="$t2" 'BEGIN {
  printf "fill: %d GETs, %d clients: %d answered 200 MISS in %.2f s = %.0f misses/s (%.2f ms wall time each)\n",
    n, c, m, b - a, m / (b - a), (b - a) * 1000 / m
  printf "      store held all of them %.2f s after the first request (polled: <= %.2f s after the last answer)\n",
    d - a, d - b }'
echo "serve RSS after the fill: VmRSS $rss, VmHWM $hwm"
echo "store entries committed while serving: $entries"

# --- after a graceful stop and a restart --------------------------------------------------------
echo "ghmesh cache stats after the stop:"
"$bin" --cache-dir "$cache" cache stats | sed 's/^/  /'
start_serve again
t3=$(now)
requests "$work/again.txt"
t4=$(now)
hits=$(count "$work/again.txt" '^200 HIT')
rss_again="VmRSS $(vm "$serve_pid" VmRSS), VmHWM $(vm "$serve_pid" VmHWM)"
stop_serve
awk -v n="$N" -v h="$hits" -v a="$t3" -v b="$t4" 'BEGIN {
  printf "after restart: %d of %d served 200 HIT from the store in %.2f s (%.0f/s)\n",
    h, n, b - a, n / (b - a) }'
echo "serve RSS after serving them all again: $rss_again"
[[ $misses -eq $N && $entries -eq $N && $hits -eq $N ]] || { echo "FAILED: not every entry was stored and kept" >&2; exit 1; }
