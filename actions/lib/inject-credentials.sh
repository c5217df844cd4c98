#!/usr/bin/env bash
# inject-credentials: hands named credentials from the runner's ghmesh vault to the job's later
# steps. The credential-scope component decides per credential (repo, workflow, runner and, with
# `id-token: write`, the job's verified OIDC identity); every grant and denial lands in the audit
# log. Each granted value is masked (`::add-mask::` for every line) before it reaches GITHUB_ENV.
# Inputs arrive as INPUT_* variables (see actions/inject-credentials/action.yml).
# status: success (all injected), partial (some denied or missing, none of them required), error
# (a required one was not injected, or nothing could be done: the step fails).
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

[[ -n ${INPUT_GITHUB_TOKEN:-} ]] && echo "::add-mask::${INPUT_GITHUB_TOKEN}"

finish() { # status injected-list
  set_output status "$1"
  set_output credentials-injected "$2"
  [[ $1 == error ]] && exit 1
  exit 0
}

bin=${GHMESH_BIN:-}
[[ -x $bin ]] || bin=$(resolve_ghmesh "${INPUT_GHMESH_PATH:-}") || {
  echo "::error title=ghmesh::no ghmesh binary: no credential injected"
  finish error ""
}

# The requests: `credential-names` (comma-separated) and `credentials` (a JSON array of names or
# of {"name": ..., "required": true|false} objects; required defaults to false).
requests=$(python3 - <<'PY'
import json, os, sys
out = []
for name in filter(None, (n.strip() for n in os.environ.get("INPUT_CREDENTIAL_NAMES", "").split(","))):
    out.append((name, False))
raw = os.environ.get("INPUT_CREDENTIALS", "").strip()
if raw:
    try:
        items = json.loads(raw)
        assert isinstance(items, list)
    except Exception:
        print("credentials input is not a JSON array", file=sys.stderr)
        sys.exit(2)
    for item in items:
        if isinstance(item, str):
            out.append((item, False))
        elif isinstance(item, dict) and isinstance(item.get("name"), str):
            out.append((item["name"], bool(item.get("required", False))))
        else:
            print(f"credentials input: not a name or {{\"name\": ...}} object: {item!r}", file=sys.stderr)
            sys.exit(2)
seen = set()
for name, required in out:
    if name not in seen:
        seen.add(name)
        print(f"{name} {'required' if required else 'optional'}")
PY
) || { echo "::error title=ghmesh::$(escape_command "invalid credentials input")"; finish error ""; }
[[ -n $requests ]] || { warn "no credential names given"; finish success ""; }

[[ -n ${INPUT_VAULT_DIR:-} ]] && export GHMESH_VAULT_DIR=$INPUT_VAULT_DIR
[[ -n ${INPUT_KEY_STORE:-} ]] && export GHMESH_KEY_STORE=$INPUT_KEY_STORE
context=()
[[ -n ${INPUT_RUNNER_ID:-} ]] && context+=(--runner "$INPUT_RUNNER_ID")
injected=()
missed=0
failed_required=0
while read -r name need; do
  # One call per credential: a denial of one does not hold back the others.
  if "$bin" creds inject --names "$name" "${context[@]}"; then
    injected+=("$name")
  else
    missed=$((missed + 1))
    if [[ $need == required ]]; then
      failed_required=1
      echo "::error title=ghmesh::$(escape_command "required credential $name was not injected (see the reason above)")"
    else
      warn "credential $name was not injected (see the reason above)"
    fi
  fi
done <<<"$requests"

list=$(IFS=,; echo "${injected[*]}")
if ((failed_required)); then
  finish error "$list"
elif ((missed)); then
  finish partial "$list"
else
  finish success "$list"
fi
