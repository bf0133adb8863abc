#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Mutation check: do the tests fail when the relay breaks?

Each mutation in the list (scripts/mutations.ini by default) is one small
source change: a string that must occur exactly once in a file, and what
replaces it. The tree (tracked and untracked files, build dirs aside) is
copied once to a scratch directory and built there; then each mutation is
applied alone, built incrementally, and its tests run with a timeout. A
mutation whose tests all pass SURVIVED: no test notices that bug. See
docs/mutation.md.

  scripts/mutate.py [--list FILE] [--only ID[,ID...]] [--timeout S]
                    [--no-baseline] [--keep] [--scratch DIR]

Exit status: 0 when every mutation was killed, 1 when one survived or
could not be applied, 2 on a usage or set-up error.
"""
import argparse
import configparser
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load(path):
    cp = configparser.RawConfigParser(interpolation=None, delimiters=("=",),
                                      comment_prefixes=("#",), strict=True)
    cp.optionxform = str
    with open(path) as f:
        cp.read_file(f)
    muts = []
    for sec in cp.sections():
        m = dict(cp.items(sec))
        for k in ("file", "from", "to", "tests"):
            if k not in m:
                sys.exit(f"{path}: [{sec}]: no {k} =")
        # \n and \t in from/to stand for a newline and a tab.
        dec = lambda s: s.replace("\\n", "\n").replace("\\t", "\t")
        muts.append({"id": sec, "file": m["file"], "from": dec(m["from"]), "to": dec(m["to"]),
                     "tests": m["tests"].split(), "why": m.get("why", "")})
    return muts


def run(cmd, cwd, log, timeout):
    """Runs cmd, output appended to log. Returns the exit code, or None on timeout."""
    with open(log, "a") as out:
        out.write("$ " + " ".join(cmd) + "\n")
        out.flush()
        try:
            return subprocess.run(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                  timeout=timeout, start_new_session=True).returncode
        except subprocess.TimeoutExpired:
            out.write(f"-- timed out after {timeout} s\n")
            return None


def copy_tree(dst):
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           cwd=ROOT, check=True, capture_output=True).stdout.split(b"\0")
    for f in files:
        if not f:
            continue
        rel = f.decode()
        src = os.path.join(ROOT, rel)
        if not os.path.isfile(src):  # deleted but still in the index
            continue
        os.makedirs(os.path.dirname(os.path.join(dst, rel)), exist_ok=True)
        shutil.copy2(src, os.path.join(dst, rel))


def meson_test(scratch, tests, log, timeout):
    """'killed', 'survived' or 'skipped' (every test skipped), from meson's exit and summary."""
    rc = run(["meson", "test", "-C", "build", "--no-rebuild", "--print-errorlogs"] + tests,
             scratch, log, timeout)
    if rc is None:
        return "killed (timeout)"
    if rc != 0:
        return "killed"
    with open(log) as f:
        text = f.read()
    tail = text[text.rfind("Ok:"):]
    if "Ok:                 0" in tail and "Skipped:" in tail:
        return "skipped"
    return "survived"


def main():
    ap = argparse.ArgumentParser(description="Apply one-line bugs; report those no test notices.")
    ap.add_argument("--list", default=os.path.join(ROOT, "scripts", "mutations.ini"))
    ap.add_argument("--only", help="comma-separated mutation ids")
    ap.add_argument("--timeout", type=int, default=600, help="seconds for one mutation's tests")
    ap.add_argument("--no-baseline", action="store_true",
                    help="skip checking that the tests pass on the unchanged tree")
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory")
    ap.add_argument("--scratch", help="reuse this scratch directory (made by an earlier --keep)")
    a = ap.parse_args()

    muts = load(a.list)
    if a.only:
        want = a.only.split(",")
        unknown = [w for w in want if w not in {m["id"] for m in muts}]
        if unknown:
            sys.exit(f"no mutation named {', '.join(unknown)} in {a.list}")
        muts = [m for m in muts if m["id"] in want]

    scratch = a.scratch or tempfile.mkdtemp(prefix="hd-mutate-")
    logs = os.path.join(scratch, "mutation-logs")
    os.makedirs(logs, exist_ok=True)
    print(f"scratch copy: {scratch}")
    if not a.scratch:
        copy_tree(scratch)
    setup_log = os.path.join(logs, "build.log")
    if not os.path.isdir(os.path.join(scratch, "build")):
        if run(["meson", "setup", "build"], scratch, setup_log, 600) != 0:
            print(f"meson setup failed: {setup_log}")
            return 2
    if run(["ninja", "-C", "build"], scratch, setup_log, 1800) != 0:
        print(f"the unchanged tree does not build: {setup_log}")
        return 2

    if not a.no_baseline:
        tests = sorted({t for m in muts for t in m["tests"]})
        print(f"baseline: {' '.join(tests)}")
        base = meson_test(scratch, tests, os.path.join(logs, "baseline.log"), a.timeout * 2)
        if base != "survived":
            print(f"the tests do not pass on the unchanged tree ({base}): "
                  f"{os.path.join(logs, 'baseline.log')}")
            return 2

    results = []
    for m in muts:
        path = os.path.join(scratch, m["file"])
        log = os.path.join(logs, m["id"] + ".log")
        with open(path) as f:
            orig = f.read()
        n = orig.count(m["from"])
        if n != 1:
            results.append((m, f"not applied ({n} matches)", 0))
            print(f"{m['id']:<32} not applied: 'from' occurs {n} times in {m['file']}")
            continue
        t0 = time.time()
        try:
            with open(path, "w") as f:
                f.write(orig.replace(m["from"], m["to"]))
            if run(["ninja", "-C", "build"], scratch, log, 1800) != 0:
                verdict = "does not build"
            else:
                verdict = meson_test(scratch, m["tests"], log, a.timeout)
        finally:
            with open(path, "w") as f:
                f.write(orig)
        secs = time.time() - t0
        results.append((m, verdict, secs))
        print(f"{m['id']:<32} {verdict:<18} {secs:6.0f} s  ({' '.join(m['tests'])})", flush=True)
    run(["ninja", "-C", "build"], scratch, setup_log, 1800)  # leave it built as it was

    killed = [r for r in results if r[1].startswith("killed")]
    bad = [r for r in results if not r[1].startswith("killed")]
    print(f"\n{len(killed)} killed, {len(bad)} not killed, of {len(results)} mutations")
    for m, verdict, _ in bad:
        print(f"  {verdict.upper()}: {m['id']}: {m['file']}: {m['why'] or m['to'].strip()}")
    print(f"logs: {logs}")
    if not a.keep and not a.scratch:
        shutil.rmtree(scratch)
        print("(scratch removed; --keep keeps it and the logs)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
