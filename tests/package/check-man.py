#!/usr/bin/env python3
"""Checks that the manual pages document everything the built programs and
library offer, and that they format without warnings:

- qgad(8): every option of `qgad --help`;
- qgad.conf(5): every key `qgad --dump-conf` can print;
- qga(1): every option in qga's option table (src/cli/main.c) and every verb
  of `qga --help`, with the verb's own options;
- libqga(3): every function the built library exports, in NAME, SYNOPSIS and
  the text.

usage: check-man.py QGAD QGA LIBQGA QGA_MAIN_C MANDIR
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def qgad_options(qgad):
    """Short letters and long names from `qgad --help`."""
    out = run([qgad, "--help"]).stdout
    shorts = set(re.findall(r"^\s+-([A-Za-z]), --", out, re.M))
    longs = set(re.findall(r"--([a-z][a-z-]+)", out))
    return shorts, longs


def qgad_keys(qgad):
    """Every key --dump-conf can print: the optional ones need a value."""
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, QGA_CONF=os.path.join(d, "none.conf"))
        out = run([qgad, "-D", "-F", "-l", os.path.join(d, "log")],
                  env=env).stdout
    return set(re.findall(r"^([a-z-]+)=", out, re.M))


def qga_verbs(qga):
    """{verb: usage} from the verb list of `qga --help`."""
    out = run([qga, "--help"]).stdout
    _, _, table = out.partition("\nverbs:\n")
    verbs = {}
    for line in table.splitlines():
        m = re.match(r"  (\S+) *(.*)$", line)
        if m:
            verbs[m.group(1)] = m.group(2).strip()
    return verbs


def qga_options(main_c):
    """(short letters, long names) of qga's getopt_long table."""
    src = open(main_c, encoding="utf-8").read()
    m = re.search(r"longopts\[\] = \{(.*?)\n\t\};", src, re.S)
    longs = set(re.findall(r'\{ "([a-z][a-z-]*)",', m.group(1))) if m else set()
    m = re.search(r'getopt_long\([^"]*"\+?([^"]*)"', src)
    shorts = set(re.sub(r"[:+]", "", m.group(1))) if m else set()
    return shorts, longs


def exported_functions(lib):
    out = run(["nm", "-D", "--defined-only", lib], check=True).stdout
    return {line.split()[2].split("@")[0] for line in out.splitlines()
            if len(line.split()) == 3 and line.split()[1] == "T"}


def sections(src):
    """{section name: text} of an mdoc page."""
    out, name = {}, None
    for line in src.splitlines():
        m = re.match(r"\.Sh (.+)", line)
        if m:
            name = m.group(1).strip()
            out[name] = ""
        elif name:
            out[name] += line + "\n"
    return out


def it_entries(src):
    """The .It lines of a page, each with the text up to the next .It."""
    entries, cur = [], None
    for line in src.splitlines():
        if line.startswith(".It") or line.startswith(".El"):
            if cur is not None:
                entries.append(cur)
            cur = line + "\n" if line.startswith(".It") else None
        elif cur is not None:
            cur += line + "\n"
    if cur is not None:
        entries.append(cur)
    return entries


def it_names(entry):
    """The names an `.It Cm a , b , c Ar ...` entry documents."""
    toks = entry.split("\n", 1)[0].split()
    if len(toks) < 3 or toks[1] != "Cm":
        return []
    names, i = [toks[2]], 2
    while i + 2 < len(toks) and toks[i + 1] == ",":
        names.append(toks[i + 2])
        i += 2
    return names


def has_long(src, name):
    """--name on an .It line, spelt Fl -name or Fl Fl name."""
    return re.search(rf"^\.It .*\bFl (?:-|Fl ){re.escape(name)}\b", src, re.M)


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


def check_qgad(qgad, src8, src5, failures):
    shorts, longs = qgad_options(qgad)
    if len(shorts) < 10 or len(longs) < 10:
        failures.append(f"could not read options from {qgad} --help")
    for s in sorted(shorts):
        if not re.search(rf"^\.It Fl {s}\b", src8, re.M):
            failures.append(f"qgad.8: option -{s} has no .It entry")
    for lo in sorted(longs):
        if not has_long(src8, lo):
            failures.append(f"qgad.8: option --{lo} is not documented")
    keys = qgad_keys(qgad)
    if len(keys) < 10:
        failures.append(f"could not read config keys from {qgad} -D")
    for k in sorted(keys):
        if not re.search(rf"^\.It Cm {re.escape(k)}\b", src5, re.M):
            failures.append(f"qgad.conf.5: key {k} has no .It entry")
    return f"qgad: {len(shorts)} short and {len(longs)} long options, {len(keys)} keys"


def check_qga(qga, main_c, src1, failures):
    shorts, longs = qga_options(main_c)
    if len(longs) < 5:
        failures.append(f"could not read qga's options from {main_c}")
    for s in sorted(shorts):
        if not re.search(rf"^\.It Fl {s}\b|^\.It .*, Fl {s}\b", src1, re.M):
            failures.append(f"qga.1: option -{s} has no .It entry")
    for lo in sorted(longs):
        if not has_long(src1, lo):
            failures.append(f"qga.1: option --{lo} is not documented")
    verbs = qga_verbs(qga)
    if len(verbs) < 10:
        failures.append(f"could not read the verbs from {qga} --help")
    entries = {}
    for entry in it_entries(sections(src1).get("DESCRIPTION", "")):
        for name in it_names(entry):
            entries[name] = entry
    for verb, usage in sorted(verbs.items()):
        if verb not in entries:
            failures.append(f"qga.1: verb {verb} has no .It Cm entry")
            continue
        for opt in re.findall(r"(?<![\w-])-([A-Za-z])\b", usage):
            if not re.search(rf"\bFl {opt}\b", entries[verb]):
                failures.append(f"qga.1: verb {verb}: option -{opt} is not documented")
    return f"qga: {len(shorts)} short and {len(longs)} long options, {len(verbs)} verbs"


def check_libqga(lib, src3, failures):
    funcs = exported_functions(lib)
    if len(funcs) < 10:
        failures.append(f"could not read the functions of {lib}")
    sec = sections(src3)
    text = "".join(v for k, v in sec.items() if k not in ("NAME", "SYNOPSIS"))
    for f in sorted(funcs):
        if not re.search(rf"^\.Nm {f}\b", sec.get("NAME", ""), re.M):
            failures.append(f"libqga.3: {f} is not in NAME")
        if not re.search(rf'^\.Fn {f} "', sec.get("SYNOPSIS", ""), re.M):
            failures.append(f"libqga.3: {f} has no prototype in SYNOPSIS")
        if not re.search(rf"^\.Fn {f}\b", text, re.M):
            failures.append(f"libqga.3: {f} is not described")
    return f"libqga: {len(funcs)} functions"


def main():
    qgad, qga, lib, main_c, mandir = sys.argv[1:6]
    pages = {n: os.path.join(mandir, n)
             for n in ("qgad.8", "qgad.conf.5", "qga.1", "libqga.3")}
    src = {n: open(p, encoding="utf-8").read() for n, p in pages.items()}
    failures = []
    summary = [
        check_qgad(qgad, src["qgad.8"], src["qgad.conf.5"], failures),
        check_qga(qga, main_c, src["qga.1"], failures),
        check_libqga(lib, src["libqga.3"], failures),
    ]
    for name, page in pages.items():
        failures += [f"{name}: {w}" for w in lint(page)]
        if shutil.which("man"):
            text = render(page)
            print(f"man -l {name}: {len(text.splitlines())} lines")
        else:
            print(f"man -l {name}: skipped, no man here")
    for f in failures:
        print("FAIL:", f)
    print("; ".join(summary))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
