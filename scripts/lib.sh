# Shared by scripts/run and scripts/test: install what is missing, configure, build.
# shellcheck shell=bash

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

log() { printf '==> %s\n' "$*" >&2; }

# Install every package named in scripts/packages.d/*.list that is not yet installed.
install_packages() {
    local want=() missing=() p
    mapfile -t want < <(cat "$ROOT"/scripts/packages.d/*.list | sed 's/#.*//' | awk 'NF {print $1}' | sort -u)
    for p in "${want[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    # Node.js may come from elsewhere than Debian (its npm then conflicts with Debian's):
    # only ask for Debian's when the commands are missing.
    command -v node >/dev/null || missing+=(nodejs)
    command -v npm >/dev/null || missing+=(npm)
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
                        log "could not install $p; tests that need it will be skipped"
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

build() { # build DIR [meson options…]
    local dir=$1
    shift
    if [ ! -f "$ROOT/$dir/build.ninja" ]; then
        meson setup "$ROOT/$dir" "$ROOT" "$@" >/dev/null
    fi
    ninja -C "$ROOT/$dir" >/dev/null
}
