#!/usr/bin/env python3
"""Runs the examples of a markdown guide against a built qgad, so the guide
shows what the agent really does.

Fenced blocks, by info string:
  console           "$ CMD" lines run with bash in a scratch directory, with
                    qgad first in PATH and no config file; the lines up to
                    the next "$ " are the expected stdout+stderr, exactly.
  ini file=NAME     written to NAME in the scratch directory, for later
                    console blocks.
  qga-session ARGS  qgad ARGS serves a unix socket; "> JSON" lines are sent,
                    "< JSON" lines are the expected replies, compared as
                    JSON, where the string "..." matches any value.
Other blocks (sh, ...) are not run.

usage: check-docs.py QGAD GUIDE.md...
"""
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time


def blocks(path):
    """(line number, info string, body lines) of each fenced block."""
    out, info, body, start = [], None, [], 0
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if info is None and line.startswith("```"):
                info, body, start = line[3:].strip(), [], n
            elif info is not None and line == "```":
                out.append((start, info, body))
                info = None
            elif info is not None:
                body.append(line)
    return out


def matches(want, got):
    if want == "...":
        return True
    if isinstance(want, dict):
        return (isinstance(got, dict) and want.keys() == got.keys() and
                all(matches(want[k], got[k]) for k in want))
    if isinstance(want, list):
        return (isinstance(got, list) and len(want) == len(got) and
                all(matches(w, g) for w, g in zip(want, got)))
    return want == got and type(want) is type(got)


def run_console(body, scratch, env):
    failures, i = [], 0
    while i < len(body):
        if not body[i].startswith("$ "):
            failures.append(f"expected a '$ ' line, got {body[i]!r}")
            i += 1
            continue
        cmd, i = body[i][2:], i + 1
        want = []
        while i < len(body) and not body[i].startswith("$ "):
            want.append(body[i])
            i += 1
        r = subprocess.run(["bash", "-c", cmd], cwd=scratch, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=60)
        got = r.stdout.splitlines()
        if got != want:
            failures.append(f"$ {cmd}\n  want: {want}\n  got:  {got}")
    return failures


def run_session(args, body, scratch, env, qgad):
    sock = os.path.join(scratch, "session.sock")
    state = tempfile.mkdtemp(dir=scratch)
    proc = subprocess.Popen([qgad] + shlex.split(args) +
                            ["-m", "unix-listen", "-p", sock, "-t", state],
                            env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    failures = []
    try:
        deadline = time.time() + 10
        while True:
            if proc.poll() is not None:
                return [f"qgad {args} exited with {proc.returncode}"]
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(10)
            try:
                s.connect(sock)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                s.close()
                if time.time() > deadline:
                    return [f"could not connect to qgad {args}"]
                time.sleep(0.05)
        buf = b""
        with s:
            for line in body:
                if line.startswith("> "):
                    s.sendall(line[2:].encode() + b"\n")
                elif line.startswith("< "):
                    while b"\n" not in buf:
                        chunk = s.recv(65536)
                        if not chunk:
                            return failures + ["agent closed the connection"]
                        buf += chunk
                    raw, buf = buf.split(b"\n", 1)
                    got = json.loads(raw.lstrip(b"\xff"))
                    if not matches(json.loads(line[2:]), got):
                        failures.append(f"{line}\n  got: {json.dumps(got)}")
                elif line.strip():
                    failures.append(f"not a '> ' or '< ' line: {line!r}")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return failures


def main():
    qgad = os.path.abspath(sys.argv[1])
    total, failed = 0, 0
    with tempfile.TemporaryDirectory() as scratch:
        bindir = os.path.join(scratch, ".bin")
        os.mkdir(bindir)
        os.symlink(qgad, os.path.join(bindir, "qgad"))
        env = dict(os.environ, PATH=bindir + os.pathsep + os.environ["PATH"],
                   QGA_CONF=os.path.join(bindir, "no-such.conf"),
                   LC_ALL="C.UTF-8")
        for guide in sys.argv[2:]:
            for start, info, body in blocks(guide):
                kind, _, rest = info.partition(" ")
                where = f"{os.path.basename(guide)}:{start}"
                if kind == "ini":
                    m = re.fullmatch(r"file=(\S+)", rest.strip())
                    if not m:
                        print(f"FAIL {where}: ini block without file=NAME")
                        failed += 1
                        continue
                    with open(os.path.join(scratch, m.group(1)), "w") as f:
                        f.write("\n".join(body) + "\n")
                    continue
                if kind == "console":
                    failures = run_console(body, scratch, env)
                elif kind == "qga-session":
                    failures = run_session(rest, body, scratch, env, qgad)
                else:
                    continue
                total += 1
                if failures:
                    failed += 1
                    print(f"FAIL {where} ({kind})")
                    for f in failures:
                        print("  " + f.replace("\n", "\n  "))
                else:
                    print(f"ok   {where} ({kind})")
    print(f"{total - failed} passed, {failed} failed")
    return 1 if failed or total == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
