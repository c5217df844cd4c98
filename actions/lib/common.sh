# Shared by the ghmesh actions' steps (sourced, bash). Step outputs, annotations, and finding the
# `ghmesh` binary: an explicit path, then PATH, then a release asset checked against the sha256 the
# action ships, then a build from the action's own source with cargo.

# The action's source tree (this file is actions/lib/common.sh in it).
GHMESH_ACTION_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# set_output NAME VALUE: a step output (GITHUB_OUTPUT in Actions; stdout elsewhere, for tests).
set_output() {
  if [[ -n ${GITHUB_OUTPUT:-} ]]; then
    printf '%s=%s\n' "$1" "$2" >>"$GITHUB_OUTPUT"
  else
    printf '%s=%s\n' "$1" "$2"
  fi
}

# annotation TEXT: one line, safe as a workflow command (%, CR, LF escaped as the runner expects).
escape_command() {
  local text=$1
  text=${text//'%'/%25}
  text=${text//$'\r'/%0D}
  text=${text//$'\n'/%0A}
  printf '%s' "$text"
}
warn() { echo "::warning title=ghmesh::$(escape_command "$*")"; }
note() { echo "::notice title=ghmesh::$(escape_command "$*")"; }

# The version this action's source is (the workspace version in Cargo.toml).
action_version() {
  sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' "$GHMESH_ACTION_ROOT/Cargo.toml" | head -1
}

# The release asset name for this machine, e.g. ghmesh-x86_64-unknown-linux-gnu.tar.gz.
release_asset() {
  local arch os
  case "$(uname -m)" in
    x86_64 | amd64) arch=x86_64 ;;
    aarch64 | arm64) arch=aarch64 ;;
    *) return 1 ;;
  esac
  case "$(uname -s)" in
    Linux) os=unknown-linux-gnu ;;
    Darwin) os=apple-darwin ;;
    *) return 1 ;;
  esac
  printf 'ghmesh-%s-%s.tar.gz\n' "$arch" "$os"
}

# expected_sha256 ASSET: the sha256 the action ships for ASSET (empty when it ships none).
# GHMESH_RELEASE_CHECKSUMS names another checksum file (`sha256  name` lines, sha256sum's format).
expected_sha256() {
  local file=${GHMESH_RELEASE_CHECKSUMS:-$GHMESH_ACTION_ROOT/actions/lib/release-checksums.txt}
  [[ -f $file ]] || return 0
  awk -v name="$1" '$2 == name && length($1) == 64 && $1 ~ /^[0-9a-f]+$/ { print $1; exit }' "$file"
}

# download_release DEST_DIR: fetches this machine's release asset, checks its sha256 against the
# shipped one and unpacks `ghmesh` into DEST_DIR. Refuses (status 1, reason on stderr) when no
# checksum is shipped for the asset, when the download fails or when the bytes do not match.
download_release() {
  local dest=$1 asset sha base tmp got
  asset=$(release_asset) || { echo "no release asset for $(uname -sm)" >&2; return 1; }
  sha=$(expected_sha256 "$asset")
  [[ -n $sha ]] || { echo "no sha256 shipped for $asset: not downloading it" >&2; return 1; }
  base=${GHMESH_RELEASE_BASE_URL:-}
  if [[ -z $base ]]; then
    [[ -n ${GHMESH_ACTION_REPOSITORY:-} ]] || { echo "unknown action repository" >&2; return 1; }
    base="${GITHUB_SERVER_URL:-https://github.com}/$GHMESH_ACTION_REPOSITORY/releases/download/v$(action_version)"
  fi
  command -v curl >/dev/null || { echo "curl is missing" >&2; return 1; }
  tmp=$(mktemp -d)
  if ! curl -fsSL --proto '=https,http' --max-time 120 -o "$tmp/$asset" "$base/$asset"; then
    rm -rf "$tmp"
    echo "download of $base/$asset failed" >&2
    return 1
  fi
  got=$(sha256sum "$tmp/$asset" | cut -d' ' -f1)
  if [[ $got != "$sha" ]]; then
    rm -rf "$tmp"
    echo "$asset has sha256 $got, expected $sha: refusing it" >&2
    return 1
  fi
  mkdir -p "$dest"
  if ! tar -xzf "$tmp/$asset" -C "$dest" ghmesh; then
    rm -rf "$tmp"
    echo "$asset does not hold a ghmesh binary" >&2
    return 1
  fi
  rm -rf "$tmp"
  chmod 755 "$dest/ghmesh"
}

# build_from_source: builds ghmesh from the action's own source with cargo (profile from
# GHMESH_BUILD_PROFILE, default release) and prints the binary's path.
build_from_source() {
  local profile=${GHMESH_BUILD_PROFILE:-release} target dir
  command -v cargo >/dev/null || { echo "cargo is missing: cannot build ghmesh" >&2; return 1; }
  target=${CARGO_TARGET_DIR:-$GHMESH_ACTION_ROOT/target}
  dir=$profile
  [[ $profile == dev ]] && dir=debug
  echo "building ghmesh from $GHMESH_ACTION_ROOT (profile $profile)" >&2
  (cd "$GHMESH_ACTION_ROOT" && CARGO_TARGET_DIR=$target cargo build --locked --profile "$profile" -p ghmesh >&2) ||
    return 1
  printf '%s\n' "$target/$dir/ghmesh"
}

# resolve_ghmesh [PATH]: prints the ghmesh binary to use, in the order above; status 1 when none.
resolve_ghmesh() {
  local given=${1:-} found cache
  if [[ -n $given ]]; then
    [[ -x $given ]] || { echo "ghmesh-path $given is not an executable file" >&2; return 1; }
    printf '%s\n' "$given"
    return 0
  fi
  if found=$(command -v ghmesh); then
    printf '%s\n' "$found"
    return 0
  fi
  cache=${RUNNER_TOOL_CACHE:-${RUNNER_TEMP:-/tmp}}/ghmesh/$(action_version)
  if [[ -x $cache/ghmesh ]] || download_release "$cache"; then
    printf '%s\n' "$cache/ghmesh"
    return 0
  fi
  build_from_source
}
