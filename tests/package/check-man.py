#!/usr/bin/env python3
"""Checks that the manual pages document every option and config key of the
built qgad, and that they format without warnings.

usage: check-man.py QGAD MANDIR
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def options_from_help(qgad):
    """Short letters and long names from `qgad --help`."""
    out = run([qgad, "--help"]).stdout
    shorts = set(re.findall(r"^\s+-([A-Za-z]), --", out, re.M))
    longs = set(re.findall(r"--([a-z][a-z-]+)", out))
    return shorts, longs


def keys_from_dump(qgad):
    """Every key --dump-conf can print: the optional ones need a value."""
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, QGA_CONF=os.path.join(d, "none.conf"))
        out = run([qgad, "-D", "-F", "-l", os.path.join(d, "log")],
                  env=env).stdout
    return set(re.findall(r"^([a-z-]+)=", out, re.M))


def lint(page):
    """Formatter warnings, as a list of lines; empty when clean."""
    if shutil.which("mandoc"):
        r = run(["mandoc", "-Tlint", "-Wwarning", page])
        return (r.stdout + r.stderr).splitlines()
    r = run(["groff", "-ww", "-b", "-z", "-mandoc", page])
    return r.stderr.splitlines()


def render(page):
    """`man -l` must format the page; returns the text."""
    env = dict(os.environ, MANWIDTH="80", MAN_KEEP_FORMATTING="0")
    r = run(["man", "-l", page], env=env)
    if r.returncode != 0 or not r.stdout.strip():
        raise SystemExit(f"man -l {page} failed: {r.stderr.strip()}")
    return r.stdout


def main():
    qgad, mandir = sys.argv[1], sys.argv[2]
    page8 = os.path.join(mandir, "qgad.8")
    page5 = os.path.join(mandir, "qgad.conf.5")
    src8 = open(page8, encoding="utf-8").read()
    src5 = open(page5, encoding="utf-8").read()
    failures = []

    shorts, longs = options_from_help(qgad)
    if len(shorts) < 10 or len(longs) < 10:
        failures.append(f"could not read options from {qgad} --help")
    for s in sorted(shorts):
        if not re.search(rf"^\.It Fl {s}\b", src8, re.M):
            failures.append(f"qgad.8: option -{s} has no .It entry")
    for lo in sorted(longs):
        if not re.search(rf"^\.It .*\bFl Fl {re.escape(lo)}\b", src8, re.M):
            failures.append(f"qgad.8: option --{lo} is not documented")

    keys = keys_from_dump(qgad)
    if len(keys) < 10:
        failures.append(f"could not read config keys from {qgad} -D")
    for k in sorted(keys):
        if not re.search(rf"^\.It Cm {re.escape(k)}\b", src5, re.M):
            failures.append(f"qgad.conf.5: key {k} has no .It entry")

    for page in (page8, page5):
        failures += [f"{os.path.basename(page)}: {w}" for w in lint(page)]
        if shutil.which("man"):
            text = render(page)
            print(f"man -l {os.path.basename(page)}: {len(text.splitlines())} lines")
        else:
            print(f"man -l {os.path.basename(page)}: skipped, no man here")

    for f in failures:
        print("FAIL:", f)
    print(f"options {len(shorts)} short, {len(longs)} long; keys {len(keys)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
