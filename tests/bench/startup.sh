#!/usr/bin/env bash
# Process start to first decision, warm compilation cache vs cold, with hyperfine.
# Usage: tests/bench/startup.sh   (builds the release binary; installs hyperfine if missing)
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v hyperfine >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine; }
cargo build --release -p ghmesh --quiet
bin=$PWD/target/release/ghmesh
input=$PWD/docs/examples/cache-policy-request.json
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export CACHE_DIR=$work/cache
"$bin" policy eval cache-policy "$input" >/dev/null   # fill the compilation cache
hyperfine --warmup 3 --runs 30 --export-markdown "$work/startup.md" \
  -n warm "$bin policy eval cache-policy $input" \
  -n cold --prepare "rm -rf $work/cache/compiled" "$bin policy eval cache-policy $input"
cat "$work/startup.md"
