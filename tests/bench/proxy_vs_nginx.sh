#!/usr/bin/env bash
# Cached-GET throughput and latency: `ghmesh serve` vs nginx `proxy_cache`, same upstream, loopback.
# Usage: tests/bench/proxy_vs_nginx.sh   (builds the release binary; installs nginx and wrk if missing)
# Env: DURATION (default 15s, the concurrent run), SINGLE_DURATION (default 10s, one connection),
#      CONNECTIONS (default 32), THREADS (default 2), GHMESH_BIN (a ghmesh binary to measure
#      instead of building this tree's, e.g. an older build for a before/after in one window).
#
# Both caches get only hits during the measured runs: one warm-up request fills them and the
# second is checked to be a hit. nginx runs `worker_processes auto` (one per CPU) and caches per
# token (`$http_authorization` in `proxy_cache_key`), the fair counterpart of ghmesh's
# partitioned entries. `proxy_ignore_headers Cache-Control Expires Set-Cookie` is needed because
# GitHub answers `cache-control: private`, which nginx would otherwise refuse to cache.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-15s}
SINGLE_DURATION=${SINGLE_DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}

missing=()
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || missing+=(nginx)
command -v wrk >/dev/null || missing+=(wrk)
command -v curl >/dev/null || missing+=(curl)
if ((${#missing[@]})); then
  apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 ||
    { apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null; }
fi
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)

if [[ -n ${GHMESH_BIN:-} ]]; then
  bin=$GHMESH_BIN
else
  cargo build --release -p ghmesh --quiet
  bin=${CARGO_TARGET_DIR:-$PWD/target}/release/ghmesh
fi

source tests/bench/lib.sh   # cwd is the repository root here
chmod 755 "$work"

# --- upstream: a GitHub-like repository object, only hit on misses -------------------------------
upstream_port=$(free_port)
python3 - "$upstream_port" >"$work/upstream.log" 2>&1 <<'PY' &
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

owner = {"login": "octo-org", "id": 6811672, "node_id": "MDEyOk9yZ2FuaXphdGlvbjY4MTE2NzI=",
         "avatar_url": "https://avatars.githubusercontent.com/u/6811672?v=4",
         "url": "https://api.github.com/users/octo-org", "html_url": "https://github.com/octo-org",
         "repos_url": "https://api.github.com/users/octo-org/repos", "type": "Organization",
         "site_admin": False}
repo = {"id": 1296269, "node_id": "MDEwOlJlcG9zaXRvcnkxMjk2MjY5", "name": "hello-world",
        "full_name": "octo-org/hello-world", "private": False, "owner": owner,
        "html_url": "https://github.com/octo-org/hello-world",
        "description": "This your first repo!", "fork": False,
        "url": "https://api.github.com/repos/octo-org/hello-world",
        "archive_url": "https://api.github.com/repos/octo-org/hello-world/{archive_format}{/ref}",
        "branches_url": "https://api.github.com/repos/octo-org/hello-world/branches{/branch}",
        "commits_url": "https://api.github.com/repos/octo-org/hello-world/commits{/sha}",
        "contents_url": "https://api.github.com/repos/octo-org/hello-world/contents/{+path}",
        "issues_url": "https://api.github.com/repos/octo-org/hello-world/issues{/number}",
        "pulls_url": "https://api.github.com/repos/octo-org/hello-world/pulls{/number}",
        "clone_url": "https://github.com/octo-org/hello-world.git",
        "git_url": "git://github.com/octo-org/hello-world.git",
        "ssh_url": "git@github.com:octo-org/hello-world.git",
        "homepage": "https://github.com", "language": None, "forks_count": 9, "stargazers_count": 80,
        "watchers_count": 80, "size": 108, "default_branch": "main", "open_issues_count": 0,
        "is_template": False, "topics": ["octocat", "api"], "has_issues": True,
        "has_projects": True, "has_wiki": True, "has_pages": False, "has_downloads": True,
        "archived": False, "disabled": False, "visibility": "public",
        "pushed_at": "2011-01-26T19:06:43Z", "created_at": "2011-01-26T19:01:12Z",
        "updated_at": "2011-01-26T19:14:43Z",
        "permissions": {"admin": False, "push": False, "pull": True},
        "allow_rebase_merge": True, "allow_squash_merge": True, "allow_merge_commit": True,
        "delete_branch_on_merge": True, "subscribers_count": 42, "network_count": 0,
        "license": {"key": "mit", "name": "MIT License", "spdx_id": "MIT",
                    "url": "https://api.github.com/licenses/mit", "node_id": "MDc6TGljZW5zZW1pdA=="}}
body = json.dumps(repo, indent=2).encode()

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        if self.path.split("?")[0] != "/repos/octo-org/hello-world":
            self.send_response(404); self.send_header("content-length", "0"); self.end_headers()
            return
        self.send_response(200)
        for k, v in [("content-type", "application/json; charset=utf-8"),
                     ("content-length", str(len(body))),
                     ("etag", 'W/"a4e2b0f1c3d5e7f9a1b3c5d7e9f1a3b5"'),
                     ("last-modified", "Wed, 26 Jan 2011 19:14:43 GMT"),
                     ("cache-control", "private, max-age=60, s-maxage=60"),
                     ("vary", "Accept, Authorization, Cookie, X-GitHub-OTP"),
                     ("x-github-media-type", "github.v3; format=json"),
                     ("x-ratelimit-limit", "5000"), ("x-ratelimit-remaining", "4999"),
                     ("x-ratelimit-reset", "4102444800"), ("x-ratelimit-used", "1"),
                     ("x-ratelimit-resource", "core")]:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
print(f"upstream ready {len(body)} bytes", flush=True)
server.serve_forever()
PY
pids+=($!)
wait_for "$work/upstream.log" "upstream ready"
upstream=http://127.0.0.1:$upstream_port
body_bytes=$(awk '/upstream ready/ {print $3}' "$work/upstream.log")

# --- nginx proxy_cache ----------------------------------------------------------------------------
nginx_port=$(free_port)
mkdir -p "$work/nginx/cache" "$work/nginx/logs"
user_line=""
[[ $EUID -eq 0 ]] && user_line="user $(id -un) $(id -gn);"
cat >"$work/nginx/nginx.conf" <<EOF
$user_line
daemon off;
worker_processes auto;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/nginx/client_body;
  proxy_temp_path $work/nginx/proxy_temp;
  fastcgi_temp_path $work/nginx/fastcgi_temp;
  uwsgi_temp_path $work/nginx/uwsgi_temp;
  scgi_temp_path $work/nginx/scgi_temp;
  proxy_cache_path $work/nginx/cache levels=1:2 keys_zone=gh:10m max_size=100m inactive=10m;
  server {
    listen 127.0.0.1:$nginx_port;
    location / {
      proxy_pass $upstream;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_cache gh;
      proxy_cache_key "\$request_method|\$request_uri|\$http_accept|\$http_x_github_api_version|\$http_authorization";
      proxy_cache_valid 200 300s;
      proxy_ignore_headers Cache-Control Expires Set-Cookie;
      proxy_cache_lock on;
      add_header X-Cache-Status \$upstream_cache_status;
    }
  }
}
EOF
"$nginx_bin" -p "$work/nginx/" -e "$work/nginx/logs/error.log" -c "$work/nginx/nginx.conf" \
  >"$work/nginx.log" 2>&1 &
pids+=($!)

# --- ghmesh serve ---------------------------------------------------------------------------------
CACHE_DIR=$work/ghmesh-cache "$bin" serve --listen 127.0.0.1:0 --upstream "$upstream" \
  >"$work/ghmesh.out" 2>"$work/ghmesh.err" &
pids+=($!)
wait_for "$work/ghmesh.out" "ghmesh serving http://"
ghmesh_url=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$work/ghmesh.out" | head -1)
nginx_url=http://127.0.0.1:$nginx_port
for _ in $(seq 100); do
  curl -s -o /dev/null "$nginx_url/" && break
  sleep 0.1
done

# --- warm both, check the second request is a hit --------------------------------------------------
path=/repos/octo-org/hello-world
hdrs=(-H 'Authorization: token bench' -H 'Accept: application/vnd.github+json')
check_hit() { # name url header
  curl -sf -o /dev/null "${hdrs[@]}" "$2$path"
  local got
  got=$(curl -sf -D - -o /dev/null "${hdrs[@]}" "$2$path" | tr -d '\r' | grep -i "^$3:" | awk '{print $2}')
  if [[ $got != HIT ]]; then
    echo "$1: second request was not a cache hit ($3: ${got:-none})" >&2
    exit 1
  fi
  echo "$1: warm, second request $3: HIT"
}
check_hit nginx "$nginx_url" X-Cache-Status
check_hit ghmesh "$ghmesh_url" X-Cache

# --- measure ----------------------------------------------------------------------------------------
run_wrk() { # name url threads connections duration
  echo
  echo "== $1: wrk -t$3 -c$4 -d$5 --latency $2$path"
  wrk -t"$3" -c"$4" -d"$5" --latency "${hdrs[@]}" "$2$path" | tee "$work/$1.wrk"
  grep -q 'Non-2xx' "$work/$1.wrk" && { echo "$1: non-2xx responses" >&2; exit 1; }
  sleep 2
}
echo
echo "body: $body_bytes bytes JSON; machine: $(nproc) CPUs; load:$(uptime | sed 's/.*load average/ load average/')"
sleep 2
run_wrk nginx "$nginx_url" "$THREADS" "$CONNECTIONS" "$DURATION"
run_wrk ghmesh "$ghmesh_url" "$THREADS" "$CONNECTIONS" "$DURATION"
run_wrk nginx-1c "$nginx_url" 1 1 "$SINGLE_DURATION"
run_wrk ghmesh-1c "$ghmesh_url" 1 1 "$SINGLE_DURATION"

# --- summary ------------------------------------------------------------------------------------
rps() { awk '/^Requests\/sec:/ {print $2}' "$work/$1.wrk"; }
# Percentile $2 ("50%") from wrk's latency distribution, in µs.
pct() {
  awk -v p="$2" '$1 == p {
    v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
    m = (u == "us") ? 1 : (u == "ms") ? 1000 : (u == "s") ? 1000000 : (u == "m") ? 60000000 : 0
    printf "%.0f", v * m; exit }' "$work/$1.wrk"
}
echo
echo "ghmesh upstream requests during the run: $(curl -s "$ghmesh_url/_ghmesh/stats" |
  python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("upstream_requests"), "(hits:", d.get("local_hits"), ")")')"
echo
printf '%-32s %12s %10s %10s\n' "run" "req/s" "p50 µs" "p99 µs"
for r in nginx ghmesh nginx-1c ghmesh-1c; do
  printf '%-32s %12s %10s %10s\n' "$r" "$(rps "$r")" "$(pct "$r" 50%)" "$(pct "$r" 99%)"
done
echo
awk -v g="$(rps ghmesh)" -v n="$(rps nginx)" -v g1="$(rps ghmesh-1c)" -v n1="$(rps nginx-1c)" 'BEGIN {
  printf "throughput ghmesh/nginx (-t'"$THREADS"' -c'"$CONNECTIONS"'): %.2fx\n", g / n
  printf "throughput ghmesh/nginx (one connection): %.2fx\n", g1 / n1 }'
echo "local-hit p50 (one connection): ghmesh $(pct ghmesh-1c 50%) µs, nginx $(pct nginx-1c 50%) µs"
