#!/usr/bin/env bash
# Idempotent bootstrap for a fresh machine: pnpm (pinned), the workspace's
# dependencies, and redis-server. Safe to run before every command; it does nothing
# when everything is already in place.
set -euo pipefail
cd "$(dirname "$0")/.."

PNPM_VERSION=10.34.9
log() { printf 'setup: %s\n' "$*" >&2; }

pnpm_cmd() {
  if command -v pnpm >/dev/null 2>&1 && [ "$(pnpm -v 2>/dev/null)" = "$PNPM_VERSION" ]; then
    pnpm "$@"
  elif [ -x .yoto/tools/node_modules/.bin/pnpm ]; then
    .yoto/tools/node_modules/.bin/pnpm "$@"
  else
    log "installing pnpm $PNPM_VERSION"
    if ! npm install -g "pnpm@$PNPM_VERSION" >/dev/null 2>&1; then
      # No write access to the global prefix: keep a private copy in the project.
      npm install --prefix .yoto/tools "pnpm@$PNPM_VERSION" >/dev/null
    fi
    hash -r
    if command -v pnpm >/dev/null 2>&1 && [ "$(pnpm -v)" = "$PNPM_VERSION" ]; then pnpm "$@"; else .yoto/tools/node_modules/.bin/pnpm "$@"; fi
  fi
}

# OpenBLAS (for the native-cpu addon): best effort, never fails the setup. Installed before
# the dependencies because `pnpm install` builds the addon (packages/native-blas's install
# script, scripts/build-native.sh, which never fails). Without it the workers use the wasm
# backend. Skip with YOTO_SKIP_NATIVE=1.
if [ -z "${YOTO_SKIP_NATIVE:-}" ]; then
  if ! [ -f /usr/include/x86_64-linux-gnu/cblas.h ] && ! [ -f /usr/include/aarch64-linux-gnu/cblas.h ] && ! [ -f /usr/include/openblas/cblas.h ] \
    && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    log "installing libopenblas-dev (for the native-cpu backend)"
    (apt-get install -y -qq libopenblas-dev >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq libopenblas-dev >/dev/null 2>&1; }) \
      || log "could not install libopenblas-dev; the native-cpu backend will be unavailable"
  fi
fi

# Dependencies: reinstall only when a manifest or the lockfile changed since the last install.
stamp=node_modules/.yoto-install-stamp
need_install=0
if [ ! -f "$stamp" ]; then need_install=1
else
  for f in package.json pnpm-lock.yaml pnpm-workspace.yaml packages/*/package.json test/package.json bench/package.json; do
    [ -f "$f" ] && [ "$f" -nt "$stamp" ] && need_install=1 && break
  done
fi
if [ "$need_install" = 1 ]; then
  log "installing dependencies"
  pnpm_cmd install --frozen-lockfile --reporter=silent
  touch "$stamp"
fi

# redis-server: the demo and the tests start private instances of it.
if ! command -v redis-server >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    log "installing redis-server"
    (apt-get install -y -qq redis-server >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get install -y -qq redis-server >/dev/null; })
  else
    log "redis-server is not installed and cannot be installed automatically here; install Redis >= 6.2 (e.g. 'sudo apt-get install redis-server' or 'brew install redis')"
    exit 1
  fi
fi

# The addon itself: rebuilt when its sources changed since the install (stamp file).
if [ -z "${YOTO_SKIP_NATIVE:-}" ]; then bash scripts/build-native.sh || true; fi

# Chromium: only the browser test (test/browser) uses it, and it skips without it, so
# this is best effort and never fails the setup.
# Installed only for the test command (`scripts/setup.sh --test`), never for the demo.
if [ "${1:-}" = "--test" ] && [ -z "${CHROMIUM_PATH:-}" ] && ! [ -x /usr/bin/chromium ] && [ -z "${YOTO_SKIP_CHROMIUM:-}" ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    log "installing chromium (for the browser test; skip with YOTO_SKIP_CHROMIUM=1)"
    (apt-get install -y -qq chromium >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null 2>&1; }) \
      || log "could not install chromium; the browser test will be skipped"
  else
    log "chromium not found; the browser test will be skipped (install Debian's 'chromium' or set CHROMIUM_PATH)"
  fi
fi
