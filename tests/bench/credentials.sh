#!/usr/bin/env bash
# Credential vault costs (issue 6), release build: opening a value with the key in hand (goal
# <= 1 ms), a whole get with the key in hand, an inject of 10 credentials (goal <= 20 ms), the
# PBKDF2 cost of a passphrase key (criterion, host/benches/credentials.rs); then process start to
# value for `ghmesh creds get` with the file key (hyperfine), for scale.
# Usage: tests/bench/credentials.sh   (installs hyperfine if missing)
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v hyperfine >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine; }
cargo bench -p ghmesh --bench credentials
cargo build --release -p ghmesh --quiet
bin=${CARGO_TARGET_DIR:-$PWD/target}/release/ghmesh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export CACHE_DIR=$work/cache GHMESH_KEY_STORE=file
printf %s bench-value | "$bin" creds store BENCH --scope global 2>/dev/null
"$bin" creds get BENCH >/dev/null   # fill the compilation cache
hyperfine -N --warmup 3 --runs 30 --export-markdown "$work/creds.md" \
  -n "creds get (process)" "$bin creds get BENCH"
cat "$work/creds.md"
