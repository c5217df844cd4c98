#!/usr/bin/env bash
# Process start to first decision, warm compilation cache vs cold, with hyperfine.
# Usage: tests/bench/startup.sh   (builds the release binary; installs hyperfine if missing)
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v hyperfine >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine; }
cargo build --release -p ghmesh --quiet
bin=${CARGO_TARGET_DIR:-$PWD/target}/release/ghmesh
input=$PWD/docs/examples/cache-policy-request.json
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export CACHE_DIR=$work/cache
"$bin" policy eval cache-policy "$input" >/dev/null   # fill the compilation cache
# One --prepare per command (hyperfine applies a single one to every command): warm keeps the
# compilation cache, cold removes it before each run.
hyperfine -N --warmup 3 --runs 30 --export-markdown "$work/startup.md" \
  --prepare "true" -n warm "$bin policy eval cache-policy $input" \
  --prepare "rm -rf $work/cache/compiled" -n cold "$bin policy eval cache-policy $input"
cat "$work/startup.md"
