#!/usr/bin/env bash
# Install what the test suite needs beyond Python packages:
#   - redis-server and Debian's chromium (apt), only those that are missing;
#   - the pinned JavaScript clients in clients/ (npm ci), when clients/node_modules
#     is absent or older than clients/package-lock.json.
# Idempotent and silent on success (-v prints what it does). On failure the
# installer's own output is shown. Safe with CI=true and no stdin.
set -euo pipefail

verbose=0
case "${1:-}" in
  -v|--verbose) verbose=1 ;;
  "") ;;
  *) printf 'usage: %s [-v|--verbose]\n' "$0" >&2; exit 2 ;;
esac

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
clients_dir="$repo_root/clients"
export DEBIAN_FRONTEND=noninteractive

log() { if [ "$verbose" -eq 1 ]; then printf 'install-test-deps: %s\n' "$*" >&2; fi; }
die() { printf 'install-test-deps: %s\n' "$*" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Run a command, keeping its output unless it fails.
quietly() {
  if ! "$@" </dev/null >"$work/out" 2>&1; then
    cat "$work/out" >&2
    die "failed: $*"
  fi
}

# Root runs apt directly; anyone else goes through non-interactive sudo.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo -n env DEBIAN_FRONTEND=noninteractive "$@"
  else
    echo "need root or sudo for: $*"
    return 1
  fi
}

# --- system packages -------------------------------------------------------
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
[ -x /usr/bin/chromium ] || missing+=(chromium)

if [ "${#missing[@]}" -gt 0 ]; then
  log "apt-get install ${missing[*]}"
  quietly as_root apt-get update -q
  quietly as_root apt-get install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    "${missing[@]}"
  command -v redis-server >/dev/null 2>&1 || die "redis-server still missing after apt-get"
  [ -x /usr/bin/chromium ] || die "/usr/bin/chromium still missing after apt-get"
fi

# --- JavaScript clients ----------------------------------------------------
command -v npm >/dev/null 2>&1 || die "npm not found: install Node.js 20+ first"

lock="$clients_dir/package-lock.json"
# npm writes node_modules/.package-lock.json on every install; its mtime marks
# when node_modules was last brought in line with the lock.
stamp="$clients_dir/node_modules/.package-lock.json"
if [ ! -f "$stamp" ] || [ "$lock" -nt "$stamp" ]; then
  log "npm ci --prefix clients"
  quietly npm ci --prefix "$clients_dir" --no-audit --no-fund --loglevel=error
  touch "$stamp"
fi
