#!/usr/bin/env bash
# setup-codeql-cache: `mode: check` asks whether this commit's CodeQL scan may be skipped and
# hands back the stored SARIF; `mode: store` keeps a finished scan's SARIF for later runs. Inputs
# arrive as INPUT_* variables (see actions/setup-codeql-cache/action.yml). A check that cannot
# decide answers "run the scan" (cache-status error) and never fails the job.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

truthy() { [[ ${1,,} =~ ^(true|1|yes|on)$ ]]; }
cache_dir=${INPUT_CACHE_DIR:-${CACHE_DIR:-${XDG_CACHE_HOME:-${HOME:-.}/.cache}/ghmesh}}
set_output cache-dir "$cache_dir"
mode=${INPUT_MODE:-check}

run_scan() { # reason: the answer that makes the workflow run the scan
  set_output should-skip-scan false
  set_output cached-result ""
  set_output cache-status "$1"
  set_output reason "$2"
  exit 0
}

if ! truthy "${INPUT_ENABLE_CACHING:-true}"; then
  [[ $mode == check ]] && run_scan disabled "caching disabled by the enable-caching input"
  exit 0
fi
[[ -n ${INPUT_GITHUB_TOKEN:-} ]] && echo "::add-mask::${INPUT_GITHUB_TOKEN}"
bin=${GHMESH_BIN:-}
[[ -x $bin ]] || bin=$(resolve_ghmesh "${INPUT_GHMESH_PATH:-}") || {
  warn "no ghmesh binary: the CodeQL scan runs"
  [[ $mode == check ]] && run_scan error "no ghmesh binary"
  exit 0
}

args=(--cache-dir "$cache_dir" --repo "${INPUT_REPOSITORY:-${GITHUB_REPOSITORY:-}}"
  --repo-dir "${INPUT_SOURCE_ROOT:-${GITHUB_WORKSPACE:-.}}"
  --config "${INPUT_CONFIG:-}" --codeql-version "${INPUT_CODEQL_VERSION:-}")
[[ -n ${INPUT_CATEGORY:-} ]] && args+=(--category "$INPUT_CATEGORY")
commit=${INPUT_COMMIT_SHA:-${GITHUB_SHA:-}}

case $mode in
  check)
    [[ -n ${INPUT_BASE_SHA:-} ]] && args+=(--base "$INPUT_BASE_SHA")
    # check writes should-skip-scan, cached-result, cache-status and reason to GITHUB_OUTPUT.
    if ! "$bin" codeql check "${args[@]}" --commit "$commit"; then
      warn "ghmesh codeql check failed: the CodeQL scan runs"
      run_scan error "ghmesh codeql check failed"
    fi
    ;;
  store)
    [[ -n ${INPUT_SARIF:-} ]] || { echo "::error title=ghmesh::mode store needs the sarif input"; exit 1; }
    if ! "$bin" codeql store "${args[@]}" --commit "$commit" --sarif "$INPUT_SARIF" \
      --duration "${INPUT_SCAN_DURATION:-0}" --ttl "${INPUT_CACHE_TTL:-86400}"; then
      warn "the CodeQL result was not stored (see the error above); the next run scans again"
    fi
    ;;
  *)
    echo "::error title=ghmesh::unknown mode '$mode' (check or store)"
    exit 1
    ;;
esac
