#!/usr/bin/env bash
# `ghmesh codeql check` on a generated repository of N files (goal: <= 100 ms warm).
# Usage: tests/bench/codeql_check.sh   (builds the release binary)
# Env: N (default 10000 files), GHMESH_BIN (measure this binary, do not build), RUNS (default 20).
#
# Three cases, each after a warm-up (compiled component cached, git index and page cache warm):
#   hit    the stored scan's own tree (exact key)
#   reuse  a documentation-only commit on top, checked against the stored base
#   miss   a source change on top of that (the component reads the diff and says run)
# Timed with hyperfine when installed, else with a shell loop (mean of RUNS).
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${N:-10000}
RUNS=${RUNS:-20}
if [[ -n ${GHMESH_BIN:-} ]]; then
  bin=$GHMESH_BIN
else
  cargo build --release -p ghmesh --quiet
  bin=${CARGO_TARGET_DIR:-$PWD/target}/release/ghmesh
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
repo=$work/repo
export CACHE_DIR=$work/cache GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.invalid
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.invalid
mkdir -p "$repo"
git -C "$repo" init -q -b main
python3 - "$repo" "$N" <<'PY'
import os, sys
repo, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(repo, "src", f"pkg{i // 100}")
    os.makedirs(d, exist_ok=True)
    ext = "md" if i % 10 == 0 else "py"
    with open(os.path.join(d, f"m{i}.{ext}"), "w") as f:
        f.write(f"# module {i}\nvalue = {i}\n")
PY
git -C "$repo" add -A && git -C "$repo" commit -q -m base
base=$(git -C "$repo" rev-parse HEAD)

config='{"languages":"python","build-mode":"none"}'
common=(--repo bench/repo --repo-dir "$repo" --config "$config" --codeql-version 2.21.0 --category /language:python)
cat >"$work/r.sarif" <<'JSON'
{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"CodeQL"}},"results":[]}]}
JSON
"$bin" codeql store "${common[@]}" --sarif "$work/r.sarif" --duration 600 >/dev/null

measure() { # name, args...
  local name=$1; shift
  "$bin" "$@" >/dev/null  # warm-up: compiles/caches the component
  if command -v hyperfine >/dev/null; then
    hyperfine --warmup 3 --runs "$RUNS" --export-json "$work/$name.json" "$(printf '%q ' "$bin" "$@")" >/dev/null
    python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['results'][0]; print(f'{sys.argv[2]:<6} mean {r[\"mean\"]*1000:.1f} ms  min {r[\"min\"]*1000:.1f} ms  max {r[\"max\"]*1000:.1f} ms')" "$work/$name.json" "$name"
  else
    local start end
    start=$(date +%s%N)
    for _ in $(seq "$RUNS"); do "$bin" "$@" >/dev/null; done
    end=$(date +%s%N)
    echo "$name   mean $(( (end - start) / RUNS / 1000000 )) ms"
  fi
}

echo "repository: $N files; binary: $bin"
measure hit codeql check "${common[@]}" --commit "$base" --output "$work/out.sarif"
echo "docs" >> "$repo/src/pkg0/m0.md"
git -C "$repo" commit -q -am docs
docs=$(git -C "$repo" rev-parse HEAD)
measure reuse codeql check "${common[@]}" --commit "$docs" --base "$base" --output "$work/out.sarif"
echo "x = 1" >> "$repo/src/pkg0/m1.py"
git -C "$repo" commit -q -am source
src=$(git -C "$repo" rev-parse HEAD)
measure miss codeql check "${common[@]}" --commit "$src" --base "$base" --output "$work/out.sarif"
"$bin" codeql stats
