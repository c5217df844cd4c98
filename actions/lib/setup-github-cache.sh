#!/usr/bin/env bash
# setup-github-cache: starts `ghmesh serve` in the background for the rest of the job and waits
# until it answers. Inputs arrive as INPUT_* variables (see action.yml). Never fails the job: if
# the cache cannot start, cache-status is `fallback`, a warning says why, and later steps keep
# talking to GitHub directly.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

truthy() { [[ ${1,,} =~ ^(true|1|yes|on)$ ]]; }
# ghmesh's own default: on a self-hosted runner the cache outlives the job.
cache_dir=${INPUT_CACHE_DIR:-${XDG_CACHE_HOME:-${HOME:-.}/.cache}/ghmesh}
set_output cache-dir "$cache_dir"

fallback() {
  warn "GitHub API cache not started, continuing without it: $*"
  set_output cache-status fallback
  set_output peer-count 0
  set_output api-url "${INPUT_UPSTREAM:-https://api.github.com}"
  exit 0
}

if ! truthy "${INPUT_ENABLE_CACHE:-true}"; then
  set_output cache-status disabled
  set_output peer-count 0
  set_output api-url "${INPUT_UPSTREAM:-https://api.github.com}"
  exit 0
fi
[[ -n ${INPUT_GITHUB_TOKEN:-} ]] && echo "::add-mask::${INPUT_GITHUB_TOKEN}"
[[ -n ${INPUT_FLEET_SECRET:-} ]] && echo "::add-mask::${INPUT_FLEET_SECRET}"

bin=$(resolve_ghmesh "${INPUT_GHMESH_PATH:-}") || fallback "no ghmesh binary (path, PATH, release or build)"
mkdir -p "$cache_dir" && chmod 700 "$cache_dir" || fallback "cannot create $cache_dir"
log=$cache_dir/serve.log

export_env() { # url: later steps find the serve (and the cache dir) through these
  {
    echo "GHMESH_BIN=$bin"
    echo "GHMESH_URL=$1"
    echo "CACHE_DIR=$cache_dir"
  } >>"${GITHUB_ENV:-/dev/null}"
  if truthy "${INPUT_ROUTE_GH:-false}"; then
    # gh sends plain-http absolute-form requests for api.github.localhost to the proxy; loopback
    # stays direct. Only http:// URLs are affected, so other tools' https traffic is untouched.
    {
      echo "GH_HOST=github.localhost"
      echo "HTTP_PROXY=$1"
      echo "http_proxy=$1"
      echo "NO_PROXY=127.0.0.1,::1"
      echo "no_proxy=127.0.0.1,::1"
    } >>"${GITHUB_ENV:-/dev/null}"
  fi
}
peers_of() { printf '%s' "$1" | sed -n 's/.*"connected_peers":\([0-9]*\).*/\1/p'; }

# A serve already running for this cache dir (another job on this machine, or one the runner's
# image starts) is used as it is: one store has one serve.
if [[ -f $cache_dir/serve.json ]]; then
  running=$(sed -n 's/.*"url": *"\([^"]*\)".*/\1/p' "$cache_dir/serve.json" | head -1)
  if [[ -n $running ]] && stats=$("$bin" stats --cache-dir "$cache_dir" --url "$running" --json 2>/dev/null); then
    export_env "$running"
    set_output cache-status success
    set_output peer-count "$(peers_of "$stats")"
    set_output api-url "$running"
    echo "using the ghmesh serve already running at $running for $cache_dir"
    exit 0
  fi
fi

env=(CACHE_DIR="$cache_dir" CACHE_MAX_ENTRIES="${INPUT_CACHE_SIZE:-5000}"
  CACHE_DEFAULT_TTL="${INPUT_CACHE_TTL:-300}")
if truthy "${INPUT_ENABLE_P2P:-true}"; then
  secret=${INPUT_FLEET_SECRET:-}
  if [[ -z $secret ]]; then
    warn "enable-p2p is on but no fleet-secret was given: this runner caches alone" \
      "(a per-job GITHUB_TOKEN cannot be a fleet secret; see docs/mesh.md)"
    env+=(ENABLE_P2P_CACHE=false)
  else
    env+=(ENABLE_P2P_CACHE=true GHMESH_FLEET_SECRET="$secret"
      P2P_LISTEN_PORT="${INPUT_P2P_PORT:-9000}" CACHE_BOOTSTRAP_PEERS="${INPUT_BOOTSTRAP_PEERS:-}")
    truthy "${INPUT_ENABLE_PEER_DISCOVERY:-true}" || env+=(GHMESH_P2P_MDNS=false)
  fi
else
  env+=(ENABLE_P2P_CACHE=false)
fi

# setsid + nohup: the serve outlives this step (the runner ends it with the job).
env "${env[@]}" nohup setsid "$bin" serve --listen "${INPUT_LISTEN:-127.0.0.1:0}" \
  --upstream "${INPUT_UPSTREAM:-https://api.github.com}" >"$log" 2>&1 </dev/null &
pid=$!
url=
for _ in $(seq 1 "$((${INPUT_START_TIMEOUT:-30} * 10))"); do
  url=$(grep -o 'ghmesh serving http://[^ ]*' "$log" 2>/dev/null | head -1 | cut -d' ' -f3)
  [[ -n $url ]] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if [[ -z $url ]]; then
  kill "$pid" 2>/dev/null
  fallback "ghmesh serve did not start: $(grep -v '^\s*$' "$log" | tail -3 | tr '\n' ' ')"
fi
stats=$("$bin" stats --cache-dir "$cache_dir" --url "$url" --json 2>/dev/null) ||
  fallback "ghmesh serve at $url does not answer"
echo "$pid" >"$cache_dir/serve.pid"
export_env "$url"
set_output cache-status success
set_output peer-count "$(peers_of "$stats")"
set_output api-url "$url"
echo "ghmesh serve (pid $pid) answers at $url; cache in $cache_dir"
