#!/usr/bin/env bash
# Builds the optional OpenBLAS addon (packages/native-blas) for the `native-cpu` backend.
# Best effort and quiet: it never fails (exit 0), prints one line when the addon cannot be
# built, and rebuilds only when its sources changed (stamp file). Without the addon the
# worker falls back to the `wasm` backend. Force a rebuild with YOTO_NATIVE_REBUILD=1;
# skip entirely with YOTO_SKIP_NATIVE=1.
cd "$(dirname "$0")/../packages/native-blas" || exit 0
log() { printf 'setup: %s\n' "$*" >&2; }
[ -n "${YOTO_SKIP_NATIVE:-}" ] && exit 0

addon=build/Release/yoto_blas.node
stamp=build/.yoto-build-stamp
sources="binding.gyp src/blas.c"
if [ -f "$addon" ] && [ -f "$stamp" ] && [ -z "${YOTO_NATIVE_REBUILD:-}" ]; then
  fresh=1
  for f in $sources; do [ "$f" -nt "$stamp" ] && fresh=0; done
  [ "$(cat "$stamp")" = "$(node -p process.versions.modules)" ] || fresh=0
  [ "$fresh" = 1 ] && exit 0
fi

# A failed build is retried only when the sources change or OpenBLAS's header appears/disappears.
failed=build/.yoto-build-failed
headers="$(ls /usr/include/*/cblas.h /usr/include/cblas.h /usr/include/openblas/cblas.h 2>/dev/null | tr '\n' ' ')"
if [ -f "$failed" ] && [ -z "${YOTO_NATIVE_REBUILD:-}" ] && [ "$(cat "$failed")" = "$(node -p process.versions.modules) $headers" ]; then
  retry=0
  for f in $sources; do [ "$f" -nt "$failed" ] && retry=1; done
  if [ "$retry" = 0 ]; then
    log "native-cpu backend unavailable: the OpenBLAS addon did not build (see packages/native-blas/build-native.log; retry with YOTO_NATIVE_REBUILD=1); using wasm"
    exit 0
  fi
fi

if ! command -v c++ >/dev/null 2>&1 && ! command -v g++ >/dev/null 2>&1; then
  log "native-cpu backend unavailable: no C compiler (install build-essential); using wasm"
  exit 0
fi
# node-gyp ships inside npm; a separately installed one works too.
gyp="$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js"
if [ -f "$gyp" ]; then gyp_cmd=(node "$gyp"); elif command -v node-gyp >/dev/null 2>&1; then gyp_cmd=(node-gyp); else
  log "native-cpu backend unavailable: node-gyp not found; using wasm"
  exit 0
fi
# Build against the running Node's own headers when it has them (no download).
prefix="$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")"
nodedir="${npm_config_nodedir:-$(npm config get nodedir 2>/dev/null)}"
{ [ -z "$nodedir" ] || [ "$nodedir" = undefined ] || [ "$nodedir" = null ]; } && [ -f "$prefix/include/node/node_api.h" ] && nodedir="$prefix"
[ -n "$nodedir" ] && [ "$nodedir" != undefined ] && [ "$nodedir" != null ] && gyp_cmd+=(--nodedir="$nodedir")
logfile=build-native.log
if "${gyp_cmd[@]}" rebuild --silent >"$logfile" 2>&1 && [ -f "$addon" ]; then
  node -p process.versions.modules >"$stamp"
  rm -f "$logfile" "$failed"
else
  mkdir -p build && echo "$(node -p process.versions.modules) $headers" >"$failed"
  log "native-cpu backend unavailable: could not build the OpenBLAS addon (needs libopenblas-dev and Node headers; see packages/native-blas/$logfile); using wasm"
fi
exit 0
