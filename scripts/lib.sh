# Shared by scripts/run and scripts/test: install what is missing, configure, build.
# shellcheck shell=bash

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

log() { printf '==> %s\n' "$*" >&2; }

# The packages a mode needs, one per line: "run" = scripts/packages.d/*.list (build and
# run), "all" = those and the *.test.list files (what the tests need besides).
packages_for() { # packages_for run|all
    local mode=${1:-all} f files=()
    for f in "$ROOT"/scripts/packages.d/*.list; do
        case $f in
            *.test.list) [ "$mode" = all ] || continue ;;
        esac
        files+=("$f")
    done
    cat "${files[@]}" | sed 's/#.*//' | awk 'NF {print $1}' | sort -u
}

# Install what packages_for MODE names and is not yet installed (default: all).
install_packages() { # install_packages [run|all]
    local mode=${1:-all} want=() missing=() p
    mapfile -t want < <(packages_for "$mode")
    for p in "${want[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    # Node.js (test peers only) may come from elsewhere than Debian (its npm then
    # conflicts with Debian's): only ask for Debian's when the commands are missing.
    if [ "$mode" = all ]; then
        command -v node >/dev/null || missing+=(nodejs)
        command -v npm >/dev/null || missing+=(npm)
    fi
    if ((${#missing[@]})); then
        if [ "$(id -u)" != 0 ]; then
            log "missing packages (run as root to install): ${missing[*]}"
            return 1
        fi
        log "installing: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
            apt-get update -q >/dev/null 2>&1 || true
            if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
                # One by one, so one broken package cannot keep the others out; tests
                # whose peer is missing skip (exit 77) and say why.
                for p in "${missing[@]}"; do
                    apt-get install -y -q --no-install-recommends "$p" >/dev/null 2>&1 ||
                        log "could not install $p; what needs it is skipped"
                done
            fi
        fi
    fi
}

# npm test peers: every tests/**/package.json gets `npm ci` (or install) once.
install_npm() {
    local pj d
    command -v npm >/dev/null || { log "npm not found; tests needing npm peers will skip"; return 0; }
    while IFS= read -r pj; do
        d=$(dirname "$pj")
        if [ ! -d "$d/node_modules" ] || [ "$pj" -nt "$d/node_modules" ]; then
            log "npm install in ${d#"$ROOT"/}"
            if [ -f "$d/package-lock.json" ]; then
                (cd "$d" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) || log "npm ci failed in $d"
            else
                (cd "$d" && npm install --no-audit --no-fund --loglevel=error >/dev/null) || log "npm install failed in $d"
            fi
            touch "$d/node_modules" 2>/dev/null || true
        fi
    done < <(find "$ROOT/tests" -name package.json -not -path '*/node_modules/*')
}

# Configure (once) and build DIR. Quiet by default (scripts/test); with BUILD_VERBOSE=1
# meson's and ninja's progress show (scripts/run). A failure always shows the output
# and says so: never a silent exit.
build() { # build DIR [meson options…]
    local dir=$1 out rc=0
    shift
    out=$(mktemp)
    if [ ! -f "$ROOT/$dir/build.ninja" ]; then
        if [ "${BUILD_VERBOSE:-0}" = 1 ]; then
            meson setup "$ROOT/$dir" "$ROOT" "$@" >&2 || rc=$?
        else
            meson setup "$ROOT/$dir" "$ROOT" "$@" >"$out" 2>&1 || rc=$?
        fi
        if ((rc)); then
            cat "$out" >&2
            rm -f "$out"
            log "meson setup $dir failed (exit $rc): see above"
            return "$rc"
        fi
    fi
    if [ "${BUILD_VERBOSE:-0}" = 1 ]; then
        ninja -C "$ROOT/$dir" >&2 || rc=$?
    else
        ninja -C "$ROOT/$dir" >"$out" 2>&1 || rc=$?
    fi
    if ((rc)); then
        [ "${BUILD_VERBOSE:-0}" = 1 ] || grep -v '^\[[0-9]*/[0-9]*\] ' "$out" >&2
        log "the build in $dir failed (exit $rc): see the errors above"
    fi
    rm -f "$out"
    return "$rc"
}
