#!/usr/bin/python3
"""docs.py — what the docs name exists: packages, flags of ringhub's binaries, config keys.

Reads README.md, docs/*.md and the READMEs beside the code, and fails on:
  - a package or library named (an `apt-get install` line, a `lib…` name) that neither
    scripts/packages.d nor the build (meson.build's dependency() calls) uses;
  - a `--flag` named for a ringhub binary (on the same line or in the same code span as
    `ringhub`, `ringhubctl` or `ringhub-collect-*`) that the binary's `--help` lacks, or
    (named alone) that no ringhub binary or script has;
  - a configuration key (`[section] key`, `section.key`, `collector.x.key`) of a section
    ringhub.conf has that common/conf_keys.def does not declare.

usage: docs.py SOURCE_DIR BUILD_DIR
"""
import glob
import os
import re
import subprocess
import sys

SRC, BUILD = sys.argv[1], sys.argv[2]
errors = []

DOCS = sorted(glob.glob(os.path.join(SRC, "docs", "*.md")) +
              glob.glob(os.path.join(SRC, "*", "README.md")) + [os.path.join(SRC, "README.md")])
# Generated from the schema, and names no package, flag or key.
DOCS = [d for d in DOCS if not d.endswith("records.md")]


def rel(path):
    return os.path.relpath(path, SRC)


# ---- what exists ---------------------------------------------------------------------

def packages():
    names = set()
    for f in glob.glob(os.path.join(SRC, "scripts", "packages.d", "*.list")):
        with open(f) as fh:
            names |= {ln.strip() for ln in fh if ln.strip() and not ln.startswith("#")}
    deps = set()
    for f in glob.glob(os.path.join(SRC, "**", "meson.build"), recursive=True):
        with open(f) as fh:
            deps |= set(re.findall(r"(?:dependency|find_library)\('([^']+)'", fh.read()))
    return names, deps


def binaries():
    out = {}
    for path in [os.path.join(BUILD, "hub", "ringhub"), os.path.join(BUILD, "shm", "ringhubctl")] + \
            glob.glob(os.path.join(BUILD, "collectors", "**", "ringhub-collect-*"), recursive=True):
        if not os.access(path, os.X_OK) or os.path.isdir(path):
            continue
        p = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=30)
        out[os.path.basename(path)] = set(re.findall(r"--[a-z][a-z0-9-]*", p.stdout + p.stderr))
    for script in ("run", "test"):  # the scripts' flags are in their text
        with open(os.path.join(SRC, "scripts", script)) as fh:
            out["scripts/" + script] = set(re.findall(r"--[a-z][a-z0-9-]*", fh.read()))
    # The benchmarks' flags (docs quote their command lines): in their sources.
    benches = set()
    for path in glob.glob(os.path.join(SRC, "tests", "bench", "*")):
        if os.path.isfile(path):
            with open(path, errors="replace") as fh:
                benches |= set(re.findall(r"--[a-z][a-z0-9-]*", fh.read()))
    out["benches"] = benches
    return out


def conf_keys():
    with open(os.path.join(SRC, "common", "conf_keys.def")) as fh:
        rows = re.findall(r'CONF_KEY\("([^"]+)",\s*"([^"]+)"', fh.read())
    keys = {}
    for sec, key in rows:
        keys.setdefault(sec, set()).add(key)
    return keys


PKGS, DEPS = packages()
BINS = binaries()
KEYS = conf_keys()
# Libraries of the C runtime and of this project that are no package of their own.
NOT_PACKAGES = {"libc", "libm", "libpthread", "libdl", "librt", "library", "libraries"}


def package_known(name):
    if name in PKGS or name in DEPS or name in NOT_PACKAGES or name.startswith("libringhub"):
        return True
    if name.endswith("d") and package_known(name[:-1]):
        return True  # a library's daemon: libvirtd
    stem = name[3:] if name.startswith("lib") else name
    # A library by its name: libmodbus ↔ libmodbus-dev, libvirt ↔ libvirt-dev, pkg-config
    # names (libsystemd, json-c, inih) ↔ the build's dependency() calls.
    return any(p == name + "-dev" or p.startswith(name + "-") or p == "lib" + stem + "-dev"
               for p in PKGS) or stem in DEPS


# ---- what the docs name --------------------------------------------------------------

def lines_with_code(text):
    """Each line, and each multi-line apt-get command joined into one."""
    joined = re.sub(r"\\\n\s*", " ", text)
    return joined.splitlines()


def check_packages(doc, text):
    for ln in lines_with_code(text):
        m = re.search(r"apt(?:-get)? install\s+(.*)", ln)
        if m:
            for word in m.group(1).split():
                word = word.strip("`")
                if word.startswith("-") or not re.match(r"^[a-z0-9][a-z0-9.+-]+$", word):
                    continue
                if not package_known(word):
                    errors.append(f"{rel(doc)}: installs {word}, which no packages.d list "
                                  "nor the build uses")
    for name in set(re.findall(r"(?<![\w/.-])(lib[a-z][a-z0-9]*(?:-[a-z0-9]+)*)(?![\w.])", text)):
        if not package_known(name):
            errors.append(f"{rel(doc)}: names {name}, which no packages.d list nor the build uses")


BIN_RE = re.compile(r"(?<![\w/.-])(ringhub-collect-[a-z]+|ringhubctl|ringhub|scripts/run|scripts/test)"
                    r"(?![\w-])")


def check_flags(doc, text):
    spans = re.findall(r"`([^`\n]+)`", text)
    in_code = False
    for ln in text.splitlines():
        if ln.strip().startswith("```"):
            in_code = not in_code
            continue
        if in_code:
            spans.append(ln)
    for span in spans:
        hits = list(BIN_RE.finditer(span))
        for i, m in enumerate(hits):
            name = m.group(1)
            if name not in BINS:
                if name.startswith("ringhub-collect-"):
                    errors.append(f"{rel(doc)}: names {name}, which the build does not make")
                continue
            end = hits[i + 1].start() if i + 1 < len(hits) else len(span)
            # The command's own words only: up to a pipe, a ; or an && (another command).
            words = re.split(r"\s(?:\||;|&&)\s", span[m.end():end])[0]
            for flag in re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", words):
                if flag not in BINS[name]:
                    errors.append(f"{rel(doc)}: `{name} {flag}`: {name} --help has no {flag}")


# Flags of other programs the docs show (meson, systemctl, curl) and the collectors'
# pattern `--interval-TASK`.
OTHER_FLAGS = {"--buildtype", "--prefix", "--now", "--cacert", "--interval-"}


def check_any_flag(doc, text):
    """A flag named without its binary must still be some ringhub binary's."""
    known = set().union(*BINS.values()) | OTHER_FLAGS
    for flag in set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", text)):
        if flag not in known:
            errors.append(f"{rel(doc)}: {flag}: no ringhub binary nor script has it")


def check_keys(doc, text):
    for sec, key in re.findall(r"\[([a-z][a-z0-9_.]*)\]\s+`?([a-z][a-z0-9_]*)`?", text):
        if sec in KEYS and key not in KEYS[sec] and not key.startswith(("and", "or", "is")):
            errors.append(f"{rel(doc)}: [{sec}] {key}: no such key in conf_keys.def")
    for full in re.findall(r"`(collector\.[a-z]+\.[a-z][a-z0-9_]*)`", text):
        sec, key = full.rsplit(".", 1)
        if sec in KEYS and key not in KEYS[sec]:
            errors.append(f"{rel(doc)}: {full}: no such key in conf_keys.def")


def self_test():
    """The checks catch what they are for (so a regex gone blind fails here)."""
    bad = ("apt-get install meson libcurl4-openssl-dev \\\n    libfoo-dev\n"
           "uses libcurl; run `ringhub --listen :1 --no-such-flag`, "
           "`ringhub-collect-disks --once --bogus`\n"
           "set `[hub] no_such_key` and `collector.ups.nonsense`; `[hub] listen` is fine\n")
    check_packages("self-test", bad)
    check_flags("self-test", bad)
    check_keys("self-test", bad)
    want = ["libcurl4-openssl-dev", "libfoo-dev", "names libcurl,", "--no-such-flag", "--bogus",
            "[hub] no_such_key", "collector.ups.nonsense"]
    missed = [w for w in want if not any(w in e for e in errors)]
    wrong = [e for e in errors if "--listen" in e or "--once" in e or "[hub] listen" in e
             or " meson," in e]
    if missed or wrong:
        print(f"FAIL: the doc checks are blind: missed {missed}, wrong {wrong}: {errors}",
              file=sys.stderr)
        sys.exit(1)
    errors.clear()


def main():
    if not BINS.get("ringhub") or not BINS.get("ringhubctl"):
        print("SKIP: the binaries are not built", file=sys.stderr)
        sys.exit(77)
    self_test()
    for doc in DOCS:
        with open(doc) as fh:
            text = fh.read()
        check_packages(doc, text)
        check_flags(doc, text)
        check_any_flag(doc, text)
        check_keys(doc, text)
    if errors:
        for e in sorted(set(errors)):
            print("FAIL: " + e, file=sys.stderr)
        sys.exit(1)
    print(f"ok: {len(DOCS)} documents; {len(BINS)} binaries' flags, {len(PKGS)} packages, "
          f"{sum(len(k) for k in KEYS.values())} config keys")


main()
