#!/usr/bin/env python3
"""Talk to an installed qgad: on a unix socket it opens itself, and on one
that systemd-socket-activate hands it. Prints one line per check and exits
non-zero on the first failure.

usage: smoke.py QGAD WORKDIR
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time


def connect(path, proc, deadline=10.0):
    end = time.time() + deadline
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"agent exited with {proc.returncode}")
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(10)
            s.connect(path)
            return s
        except (FileNotFoundError, ConnectionRefusedError):
            s.close()
            if time.time() > end:
                raise SystemExit(f"could not connect to {path}")
            time.sleep(0.05)


def call(s, request):
    s.sendall(json.dumps(request).encode() + b"\n")
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = s.recv(65536)
        if not chunk:
            raise SystemExit("agent closed the connection")
        buf += chunk
    return json.loads(buf.lstrip(b"\xff"))


def expect(what, got, want):
    if got != want:
        raise SystemExit(f"FAIL {what}: got {got!r}, want {want!r}")
    print(f"ok {what}")


def session(s, label):
    expect(f"{label}: guest-sync", call(s, {"execute": "guest-sync",
                                            "arguments": {"id": 4242}}),
           {"return": 4242})
    expect(f"{label}: guest-ping", call(s, {"execute": "guest-ping"}),
           {"return": {}})
    greeting = call(s, {"execute": "request-negotiation", "id": 1})
    ok = "QMP" in greeting.get("return", {}) and greeting.get("id") == 1
    expect(f"{label}: request-negotiation greets", ok, True)
    expect(f"{label}: qmp_capabilities",
           call(s, {"execute": "qmp_capabilities"}), {"return": {}})


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None


def main():
    qgad, work = sys.argv[1], sys.argv[2]
    env = dict(os.environ, QGA_CONF=os.path.join(work, "absent.conf"))
    for k in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        env.pop(k, None)

    path = os.path.join(work, "qgad.sock")
    proc = subprocess.Popen([qgad, "-m", "unix-listen", "-p", path,
                             "-t", work], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with connect(path, proc) as s:
            session(s, "unix-listen")
    finally:
        rc = stop(proc)
    expect("exit status after SIGTERM", rc, 0)

    activate = shutil.which("systemd-socket-activate")
    if activate is None:
        print("skip socket activation: no systemd-socket-activate here")
        return 0
    path = os.path.join(work, "activated.sock")
    statedir = os.path.join(work, "activated")
    os.makedirs(statedir, exist_ok=True)
    proc = subprocess.Popen([activate, "-l", path, qgad, "-t", statedir],
                            env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        with connect(path, proc) as s:
            session(s, "socket activation")
    finally:
        rc = stop(proc)
    expect("socket-activated exit status after SIGTERM", rc, 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
