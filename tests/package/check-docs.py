#!/usr/bin/env python3
"""Runs the examples of a markdown guide against a built qgad, so the guide
shows what the agent really does.

Fenced blocks, by info string:
  console [OPTIONS] "$ CMD" lines run with bash in a scratch directory, with
                    qgad and qga first in PATH and no config file; the lines
                    up to the next "$ " are the expected stdout+stderr,
                    exactly. OPTIONS:
                      agent[=ARGS]  qgad ARGS serves vm.sock in the scratch
                                    directory while the block runs;
                      mount=PATH    (with agent) the agent runs in a mount
                                    namespace of its own where a fresh ext4
                                    filesystem is mounted at PATH, over a
                                    tmpfs on PATH's parent: something to
                                    freeze that is not this machine's. Needs
                                    root; elsewhere the block is skipped.
  ini file=NAME     written to NAME in the scratch directory, for later
  c file=NAME       blocks; a C file must also compile cleanly (C11, -Wall
                    -Wextra -Werror, pkg-config's flags for libqga).
  qga-session ARGS  qgad ARGS serves a unix socket; "> JSON" lines are sent,
                    "< JSON" lines are the expected replies, compared as
                    JSON, where the string "..." matches any value.
Other blocks (sh, ...) are not run.

The environment should let pkg-config find libqga and programs load it
(meson test sets PKG_CONFIG_PATH and LD_LIBRARY_PATH to the build tree).

usage: check-docs.py QGAD QGA GUIDE.md...
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
        # Never freeze every filesystem of the machine running the test.
        if re.search(r"\bfsfreeze freeze\s*($|[;|&)])", body[i]):
            return [f"refusing to freeze all filesystems: {body[i]!r}"]
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


def start_agent(qgad, args, sock, scratch, env, prefix=()):
    """qgad ARGS on the unix socket SOCK; returns (process, connected
    socket), or (process, error text)."""
    state = tempfile.mkdtemp(dir=scratch)
    proc = subprocess.Popen(list(prefix) + [qgad] + shlex.split(args) +
                            ["-m", "unix-listen", "-p", sock, "-t", state],
                            cwd=scratch, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    # The bound turns a hang into a failure; it decides nothing else.
    deadline = time.time() + 30
    while True:
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace").strip()
            return proc, f"qgad {args} exited with {proc.returncode}: {err}"
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        try:
            s.connect(sock)
            return proc, s
        except (FileNotFoundError, ConnectionRefusedError):
            s.close()
            if time.time() > deadline:
                return proc, f"could not connect to qgad {args}"
            time.sleep(0.05)


def request(s, obj):
    """Send one request, return the reply (one line) as JSON."""
    s.sendall(json.dumps(obj).encode() + b"\n")
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = s.recv(65536)
        if not chunk:
            raise OSError("agent closed the connection")
        buf += chunk
    return json.loads(buf.lstrip(b"\xff"))


def stop_agent(proc, sock=None, thaw_mount=None):
    """SIGTERM, which qgad ignores while frozen: with a filesystem of its
    own, the agent is asked to thaw first, and the filesystem is thawed by
    hand in the agent's namespace should that fail."""
    if thaw_mount and proc.poll() is None:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(10)
                s.connect(sock)
                request(s, {"execute": "guest-fsfreeze-thaw"})
        except (OSError, ValueError):
            pass
        subprocess.run(["nsenter", "-t", str(proc.pid), "-m",
                        "fsfreeze", "--unfreeze", thaw_mount],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    proc.stderr.close()


def mount_prefix(path, scratch):
    """The command prefix for an agent that sees a fresh ext4 at PATH (in a
    mount namespace of its own), or a reason why there cannot be one."""
    if os.geteuid() != 0:
        return "needs root (mount namespace, loop device)"
    image = os.path.join(scratch, "data.img")
    with open(image, "wb") as f:
        f.truncate(16 << 20)
    r = subprocess.run(["mkfs.ext4", "-q", "-F", image], capture_output=True,
                       text=True)
    if r.returncode != 0:
        return f"mkfs.ext4 failed: {r.stderr.strip()}"
    script = ('mount -t tmpfs qga-docs "$1" && mkdir "$2" && '
              'mount -o loop "$3" "$2" && shift 3 && exec "$@"')
    return ["unshare", "--mount", "--propagation", "private", "--",
            "sh", "-c", script, "sh", os.path.dirname(path), path, image]


def run_agent_console(opts, body, scratch, env, qgad):
    """A console block with an agent on vm.sock; None when skipped."""
    mount = opts.get("mount")
    prefix = ()
    if mount:
        prefix = mount_prefix(mount, scratch)
        if isinstance(prefix, str):
            return None, prefix
    sock = os.path.join(scratch, "vm.sock")
    proc, s = start_agent(qgad, opts.get("agent") or "", sock, scratch, env,
                          prefix)
    try:
        if isinstance(s, str):
            return [s], None
        s.close()
        return run_console(body, scratch, env), None
    finally:
        stop_agent(proc, sock, mount)
        if os.path.exists(sock):
            os.unlink(sock)


def run_session(args, body, scratch, env, qgad):
    sock = os.path.join(scratch, "session.sock")
    proc, s = start_agent(qgad, args, sock, scratch, env)
    failures = []
    try:
        if isinstance(s, str):
            return [s]
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
        stop_agent(proc)
    return failures


def compile_c(path, env):
    """A C example must build without a warning."""
    flags = subprocess.run(["pkg-config", "--cflags", "libqga"], env=env,
                           capture_output=True, text=True)
    if flags.returncode != 0:
        return [f"pkg-config --cflags libqga: {flags.stderr.strip()}"]
    r = subprocess.run(["cc", "-std=c11", "-Wall", "-Wextra", "-Werror",
                        "-fsyntax-only", path] + shlex.split(flags.stdout),
                       env=env, capture_output=True, text=True)
    return [r.stderr.strip()] if r.returncode != 0 else []


def main():
    qgad = os.path.abspath(sys.argv[1])
    qga = os.path.abspath(sys.argv[2])
    total, failed, skipped = 0, 0, 0
    with tempfile.TemporaryDirectory() as scratch:
        bindir = os.path.join(scratch, ".bin")
        os.mkdir(bindir)
        os.symlink(qgad, os.path.join(bindir, "qgad"))
        os.symlink(qga, os.path.join(bindir, "qga"))
        env = dict(os.environ, PATH=bindir + os.pathsep + os.environ["PATH"],
                   QGA_CONF=os.path.join(bindir, "no-such.conf"),
                   LC_ALL="C.UTF-8")
        env.pop("QGA_SOCKET", None)
        for guide in sys.argv[3:]:
            for start, info, body in blocks(guide):
                kind, _, rest = info.partition(" ")
                where = f"{os.path.basename(guide)}:{start}"
                if kind in ("ini", "c"):
                    m = re.fullmatch(r"file=(\S+)", rest.strip())
                    if not m:
                        print(f"FAIL {where}: {kind} block without file=NAME")
                        total += 1
                        failed += 1
                        continue
                    path = os.path.join(scratch, m.group(1))
                    with open(path, "w") as f:
                        f.write("\n".join(body) + "\n")
                    if kind == "ini":
                        continue
                    failures = compile_c(path, env)
                elif kind == "console" and rest.strip():
                    opts = dict(o.partition("=")[::2] for o in shlex.split(rest))
                    unknown = set(opts) - {"agent", "mount"}
                    if unknown or "agent" not in opts:
                        failures = [f"bad console options: {rest!r}"]
                    else:
                        failures, why = run_agent_console(opts, body, scratch,
                                                          env, qgad)
                        if failures is None:
                            print(f"skip {where} (console {rest}): {why}")
                            skipped += 1
                            continue
                elif kind == "console":
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
    print(f"{total - failed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed or total == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
