#!/usr/bin/env bash
# units-test.sh — checks the installed systemd units, snippets and generator for real.
#
# Stages `meson install --destdir` of the build into a temp dir, points the units'
# ExecStart= at the staged binaries, and then, by MODE:
#   verify-hub         systemd-analyze verify ringhub.socket/.service/.target (any output fails)
#   verify-collectors  systemd-analyze verify ringhub-collect@NAME for every built collector,
#                      with its drop-in (any output fails)
#   security           systemd-analyze security --offline=yes: prints each unit's exposure,
#                      fails when ringhub.service is worse than "OK"
#   generator          the installed ringhub-generator against test configs
#   sysusers-tmpfiles  systemd-sysusers / systemd-tmpfiles --root on a scratch root
#   netns-activation   the staged hub, socket-activated, inside an empty network namespace
#                      (what PrivateNetwork=yes in ringhub.service does) answers REST
# Exit 77 (skip) with a reason when a tool or the hub binary is missing.
# Usage: units-test.sh MODE   (env BUILD = meson build dir)
set -euo pipefail

mode=${1:?usage: units-test.sh MODE}
: "${BUILD:?BUILD must name the meson build directory}"

skip() { echo "SKIP: $*" >&2; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }

command -v systemd-analyze >/dev/null || skip "systemd-analyze not installed"
command -v meson >/dev/null || skip "meson not on PATH"

T=$(mktemp -d /tmp/ringhub-units-test.XXXXXX)
trap 'rm -rf "$T"' EXIT
D=$T/stage
meson install -C "$BUILD" --destdir "$D" --no-rebuild --quiet >"$T/install.log" 2>&1 ||
    { cat "$T/install.log" >&2; fail "meson install --destdir failed"; }

# Where things landed (paths come from pkg-config systemd or the meson options).
sock=$(find "$D" -name ringhub.socket -type f | head -n1)
[ -n "$sock" ] || fail "ringhub.socket not installed"
U=$(dirname "$sock")
unitdir=${U#"$D"}
bindir=$(sed -n 's|^ExecStart=\(/.*\)/ringhub$|\1|p' "$U/ringhub.service")
[ -n "$bindir" ] || fail "cannot read the bin directory from ringhub.service's ExecStart="

# A copy of the unit directory whose ExecStart= points at the staged binaries.
V=$T/units
mkdir -p "$V"
cp -r "$U"/. "$V"/
sed -i "s|^ExecStart=/|ExecStart=$D/|" "$V"/*.service

# Run systemd-analyze verify; any output at all is a failure (it exits 0 on unknown keys).
verify() {
    local out rc=0
    out=$(cd "$V" && systemd-analyze verify "$@" 2>&1) || rc=$?
    if [ "$rc" != 0 ] || [ -n "$out" ]; then
        printf '%s\n' "$out" >&2
        fail "systemd-analyze verify $* (exit $rc)"
    fi
    echo "verify ok: $*"
}

collectors_built() {
    local f
    for f in "$D$bindir"/ringhub-collect-*; do
        [ -x "$f" ] && basename "$f" | sed 's/^ringhub-collect-//'
    done
}

case $mode in
verify-hub)
    [ -x "$D$bindir/ringhub" ] || skip "hub binary not built yet ($bindir/ringhub absent from the staged install)"
    verify "$V/ringhub.socket" "$V/ringhub.service" "$V/ringhub.target"
    ;;

verify-collectors)
    n=0
    for c in $(collectors_built); do
        ln -sf ringhub-collect@.service "$V/ringhub-collect@$c.service"
        verify "$V/ringhub-collect@$c.service"
        n=$((n + 1))
    done
    ((n > 0)) || fail "no collector binary in the staged install"
    # every shipped drop-in names a collector that has a section in the config schema
    for d in "$V"/ringhub-collect@*.service.d; do
        c=${d##*/ringhub-collect@}
        c=${c%.service.d}
        grep -q "^\[collector\.$c\]" "$D/etc/ringhub/ringhub.conf" ||
            fail "drop-in for '$c' but no [collector.$c] in ringhub.conf"
    done
    # the drop-ins really are read: a bad key in one must be reported
    echo "Bogus=1" >>"$V/ringhub-collect@disks.service.d/sandbox.conf"
    ln -sf ringhub-collect@.service "$V/ringhub-collect@disks.service"
    out=$(cd "$V" && systemd-analyze verify "$V/ringhub-collect@disks.service" 2>&1 || true)
    grep -q "Unknown key 'Bogus'" <<<"$out" || fail "verify did not read the disks drop-in: $out"
    echo "verify reads drop-ins: ok"
    ;;

security)
    [ -x "$D$bindir/ringhub" ] || touch "$D$bindir/ringhub" # scoring needs no real binary
    chmod +x "$D$bindir/ringhub"
    score() { # unit file → "N.N LEVEL"
        (cd "$V" && systemd-analyze security --offline=yes "$1" 2>&1) |
            sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\) \([A-Z]*\).*/\1 \2/p'
    }
    hub=$(score "$V/ringhub.service")
    [ -n "$hub" ] || fail "no score for ringhub.service"
    echo "ringhub.service exposure: $hub"
    for c in $(collectors_built); do
        ln -sf ringhub-collect@.service "$V/ringhub-collect@$c.service"
        echo "ringhub-collect@$c.service exposure: $(score "$V/ringhub-collect@$c.service")"
    done
    case ${hub#* } in
    PERFECT | SAFE | OK) ;;
    *) fail "ringhub.service exposure is $hub, want OK or better" ;;
    esac
    ;;

generator)
    gen=$(find "$D" -name ringhub-generator -type f | head -n1)
    [ -n "$gen" ] || fail "ringhub-generator not installed"
    cfg=$T/ringhub.conf
    mkdir -p "$D/run"
    : >"$D/run/test-docker.sock" # the docker source exists, libvirt's and the GPU's do not
    mkdir -p "$D/proc/spl/kstat/zfs" # so does ZFS's; Unraid's flash (/boot/config) does not
    cat >"$cfg" <<EOF
[collector.system]
enabled = yes
[collector.disks]
enabled = no
[collector.network]
enabled = yes
[collector.docker]
enabled = auto
socket = /run/test-docker.sock
[collector.vm]
enabled = auto
[collector.gpu]
enabled = auto
[collector.ups]
enabled = yes
[collector.plc]
enabled = no
[collector.opcua]
enabled = auto
[collector.zfs]
enabled = auto
[collector.unraid]
enabled = auto
EOF
    built=" $(collectors_built | tr '\n' ' ') "
    expect_wanted() { # collectors that must be linked, given which are built
        local c
        for c in system network docker ups opcua zfs; do
            [[ $built == *" $c "* ]] && echo "$c"
        done
        return 0
    }
    out=$T/gen
    mkdir -p "$out" "$T/early" "$T/late"
    RINGHUB_CONFIG=$cfg RINGHUB_ROOTFS=$D "$gen" "$out" "$T/early" "$T/late" ||
        fail "generator exited $?"
    got=$(find "$out/ringhub.target.wants" -name 'ringhub-collect@*.service' 2>/dev/null |
        sed 's|.*/ringhub-collect@||; s|\.service$||' | sort | tr '\n' ' ')
    want=$(expect_wanted | sort | tr '\n' ' ')
    [ "$got" = "$want" ] || fail "generator wants '$got', expected '$want'"
    for l in "$out"/ringhub.target.wants/*; do
        [ "$(readlink "$l")" = "$unitdir/ringhub-collect@.service" ] ||
            fail "$l points to $(readlink "$l")"
    done
    echo "generator: wants $got"

    # A broken config never fails the boot: defaults (system disks network, and zfs, auto
    # with its source here) are used.
    printf '[collector.system]\nenabled = perhaps\n' >"$cfg"
    out2=$T/gen2
    mkdir -p "$out2"
    RINGHUB_CONFIG=$cfg RINGHUB_ROOTFS=$D "$gen" "$out2" 2>"$T/gen2.err" || fail "generator failed on a bad config"
    grep -q "ringhub.conf:2: bad value 'perhaps'" "$T/gen2.err" || fail "no file:line error: $(cat "$T/gen2.err")"
    got=$(find "$out2/ringhub.target.wants" -name '*.service' | sed 's|.*/ringhub-collect@||; s|\.service$||' | sort | tr '\n' ' ')
    want=""
    for c in disks network system zfs; do [[ $built == *" $c "* ]] && want+="$c "; done
    [ "$got" = "$want" ] || fail "bad config: wants '$got', expected defaults '$want'"
    echo "generator on a bad config: defaults ($got)"
    # usage error
    if "$gen" 2>/dev/null; then fail "generator without arguments succeeded"; fi
    ;;

sysusers-tmpfiles)
    command -v systemd-sysusers >/dev/null || skip "systemd-sysusers not installed"
    command -v systemd-tmpfiles >/dev/null || skip "systemd-tmpfiles not installed"
    R=$T/root
    mkdir -p "$R/etc"
    : >"$R/etc/passwd"
    : >"$R/etc/group"
    su=$(find "$D" -path '*sysusers.d/ringhub.conf' | head -n1)
    tf=$(find "$D" -path '*tmpfiles.d/ringhub.conf' | head -n1)
    [ -n "$su" ] && [ -n "$tf" ] || fail "sysusers/tmpfiles snippets not installed"
    systemd-sysusers --root="$R" "$su" 2>&1 | grep -v "^Creating " >&2 || true
    grep -q '^ringhub:x:[0-9]*:[0-9]*:ringhub telemetry hub:/nonexistent:.*nologin$' "$R/etc/passwd" ||
        fail "no ringhub user: $(cat "$R/etc/passwd")"
    grep -q '^ringhub:x:' "$R/etc/group" || fail "no ringhub group"
    gid=$(sed -n 's/^ringhub:x:\([0-9]*\):.*/\1/p' "$R/etc/group")
    # secrets exist with loose modes; tmpfiles must tighten them
    mkdir -p "$R/etc/ringhub"
    echo "t0ken operator" >"$R/etc/ringhub/tokens"
    chmod 0666 "$R/etc/ringhub/tokens"
    systemd-tmpfiles --root="$R" --create "$tf" >&2 || fail "systemd-tmpfiles failed"
    st=$(stat -c '%a %g' "$R/etc/ringhub/tokens")
    [ "$st" = "640 $gid" ] || fail "tokens is '$st', want '640 $gid'"
    [ "$(stat -c %a "$R/etc/ringhub")" = 755 ] || fail "/etc/ringhub mode"
    [ ! -e "$R/etc/ringhub/jwt.secret" ] || fail "tmpfiles created a secret"
    echo "sysusers + tmpfiles: ringhub user/group (gid $gid), tokens 0640 root:ringhub"
    ;;

netns-activation)
    hub=$D$bindir/ringhub
    ctl=$D$bindir/ringhubctl
    [ -x "$hub" ] || skip "hub binary not built yet"
    command -v systemd-socket-activate >/dev/null || skip "systemd-socket-activate not installed"
    command -v unshare >/dev/null || skip "unshare not installed"
    command -v curl >/dev/null || skip "curl not installed"
    unshare -n true 2>/dev/null || skip "cannot create a network namespace here (needs root)"
    [ -x /usr/bin/python3 ] || skip "/usr/bin/python3 missing"
    port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    ring=test-units-$$
    "$ctl" --ring "$ring" create >/dev/null || fail "cannot create ring $ring"
    setsid systemd-socket-activate -l "127.0.0.1:$port" -- \
        unshare -n "$hub" --ring "$ring" >"$T/hub.log" 2>&1 &
    pid=$!
    cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true;
        "$ctl" --ring "$ring" rm >/dev/null 2>&1 || true; rm -rf "$T"; }
    trap cleanup EXIT
    for _ in $(seq 50); do ss -ltn "sport = :$port" | grep -q LISTEN && break; sleep 0.1; done
    code=$(curl -s -o "$T/health" -w '%{http_code}' --max-time 10 "http://127.0.0.1:$port/api/v1/health" || true)
    [ "$code" = 200 ] || { cat "$T/hub.log" >&2; fail "health answered '$code' through the passed socket"; }
    # the hub really is in another, empty network namespace
    [ "$(readlink /proc/$pid/ns/net)" != "$(readlink /proc/self/ns/net)" ] ||
        fail "hub is in the host network namespace"
    links=$(nsenter -t "$pid" -n ip -o link 2>/dev/null | wc -l || echo 0)
    echo "hub in an empty netns (links: $links) answered /api/v1/health on the passed socket: $(head -c 120 "$T/health")"
    ;;

*)
    fail "unknown mode '$mode'"
    ;;
esac
