#!/usr/bin/env bash
# Peer-hit latency: what a runner that joins the fleet late pays for an answer another runner's
# serve already holds. Serve A fetches N distinct GETs from the upstream; serve B starts after
# that, bootstraps to A (so no announcement of those entries ever reached B) and is asked for the
# same N paths one after the other on one keep-alive connection: each is a lookup to A over the
# mesh (request-response, sealed, CID-checked), stored on B and answered `X-Cache: PEER-HIT`.
# Then B is asked again (local hits) for comparison, and the upstream's count shows it was asked
# each path once.
# Usage: tests/bench/peer_hit.sh   (builds the release binary)
# Env: N (default 500), GHMESH_BIN (measure this binary, do not build).
#
# Latency is curl's `time_total` per request (request written to last body byte), sequential, so
# it is the loopback round trip through the serve and, for a peer hit, through A as well.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${N:-500}

command -v curl >/dev/null || { apt-get update -qq && apt-get install -y -qq curl >/dev/null; }
if [[ -n ${GHMESH_BIN:-} ]]; then
  bin=$GHMESH_BIN
else
  cargo build --release -p ghmesh --quiet
  bin=${CARGO_TARGET_DIR:-$PWD/target}/release/ghmesh
fi

source tests/bench/lib.sh   # cwd is the repository root here
stat_of() { # url python-expression-on-s
  curl -s "$1/_ghmesh/stats" | python3 -c "import json,sys; s=json.load(sys.stdin); print($2)"
}

# --- upstream: one distinct small JSON body per path, and a count of what it was asked ----------
upstream_port=$(free_port)
python3 - "$upstream_port" >"$work/upstream.log" 2>&1 <<'PY' &
import json, sys, threading, zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

asked = 0
lock = threading.Lock()

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # see store_fill.sh: Nagle would add ~40 ms per answer
    def do_GET(self):
        global asked
        if self.path == "/_count":
            body = str(asked).encode()
        else:
            with lock:
                asked += 1
            n = zlib.crc32(self.path.encode())
            name = self.path.rsplit("/", 1)[-1]
            body = json.dumps({"id": n, "name": name, "full_name": f"bench/{name}",
                               "private": False, "default_branch": "main",
                               "description": "peer hit benchmark " * 20}).encode()
        self.send_response(200)
        for k, v in [("content-type", "application/json; charset=utf-8"),
                     ("content-length", str(len(body))), ("etag", f'W/"{zlib.crc32(body):08x}"'),
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

secret=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
start_serve() { # name [bootstrap-multiaddr]; sets $url
  mkdir -p "$work/$1"
  (cd "$work/$1" && exec env -i PATH="$PATH" HOME="$work/$1" CACHE_DIR="$work/$1/cache" \
    ENABLE_P2P_CACHE=true GHMESH_FLEET_SECRET="$secret" GHMESH_P2P_LISTEN=/ip4/127.0.0.1/tcp/0 \
    GHMESH_P2P_MDNS=false CACHE_BOOTSTRAP_PEERS="${2:-}" \
    "$bin" serve --listen 127.0.0.1:0 --upstream "$upstream" >"$work/$1.out" 2>"$work/$1.err") &
  pids+=($!)
  wait_for "$work/$1.out" "ghmesh serving http://"
  url=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$work/$1.out" | head -1)
}
# The N paths, sequentially on one connection; one "time_total x-cache" line each.
ask() { # url out-file
  for ((i = 0; i < N; i++)); do
    printf 'url = "%s/repos/bench/r%05d"\noutput = "/dev/null"\n' "$1" "$i"
  done >"$work/urls.cfg"
  curl -s --no-progress-meter -H 'Authorization: token bench' \
    -H 'Accept: application/vnd.github+json' -w '%{time_total} %header{x-cache}\n' \
    -K "$work/urls.cfg" >"$2"
}
# Count, p50 and p99 of the lines of $1 whose x-cache is $2, in µs (nearest rank).
summary() {
  awk -v want="$2" '$2 == want { printf "%.0f\n", $1 * 1e6 }' "$1" | sort -n | awk '
    { t[++n] = $1 } END {
      if (n == 0) { print "none"; exit }
      p99 = int(n * 0.99); if (p99 < n * 0.99) p99++
      printf "n=%d p50=%d us p99=%d us\n", n, t[int((n + 1) / 2)], t[p99] }'
}

echo "binary: $bin"
echo "machine: $(nproc) CPUs; load:$(uptime | sed 's/.*load average/ load average/')"
start_serve a
a=$url
ask "$a" "$work/a-miss.txt"
addr=$(stat_of "$a" '[x for x in s["connectivity"]["listen_addrs"] if "/tcp/" in x][0]')
peer=$(stat_of "$a" 's["peer_id"]')
start_serve b "$addr/p2p/$peer"
b=$url
for _ in $(seq 100); do
  [[ $(stat_of "$b" 's["connected_peers"]') -ge 1 ]] && break
  sleep 0.1
done
ask "$b" "$work/b-peer.txt"
ask "$b" "$work/b-again.txt"
asked=$(curl -s "$upstream/_count")

echo "A, first fetch (upstream):   MISS     $(summary "$work/a-miss.txt" MISS)"
echo "B, late joiner, same paths:  PEER-HIT $(summary "$work/b-peer.txt" PEER-HIT)"
echo "B, asked again:              HIT      $(summary "$work/b-again.txt" HIT)"
echo "B's peer_hits: $(stat_of "$b" 's["peer_hits"]'); upstream asked $asked times for $N paths"
other=$(awk '$2 != "PEER-HIT"' "$work/b-peer.txt" | wc -l)
[[ $asked -eq $N && $other -eq 0 ]] || {
  echo "FAILED: B was not answered by its peer every time ($other other answers)" >&2
  cat "$work/b.err" >&2
  exit 1
}
