"""Helpers for the libqga / qga CLI tests: where the binaries are, running
them, and FakeAgent, a scripted agent for the server behaviours that no
installable agent has any more (qemu-ga 2.12's ignored ids, pre-4.0's
rejected ids, stale replies left in a virtio-serial channel, silence).

Environment: QGA_CLI, LIBQGA_CHECK, QGAD (built binaries), QEMU_GA (the
real qemu-ga, default /usr/sbin/qemu-ga), QEMU_SYSTEM (a QEMU binary for the
QMP case, default qemu-system-x86_64 on PATH).
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'lib'))
import qgatest  # noqa: E402

SRCDIR = os.path.dirname(os.path.dirname(HERE))
BUILD = os.path.join(SRCDIR, 'build')
QGA_CLI = os.environ.get('QGA_CLI') or os.path.join(BUILD, 'src/cli/qga')
CHECK = os.environ.get('LIBQGA_CHECK') or os.path.join(
    BUILD, 'tests/client/libqga-check')
QGAD = os.environ.get('QGAD') or os.path.join(BUILD, 'qgad')
QEMU_GA = os.environ.get('QEMU_GA', '/usr/sbin/qemu-ga')
QEMU_SYSTEM = os.environ.get('QEMU_SYSTEM') or shutil.which(
    'qemu-system-x86_64')



def is_real_qemu_ga(path):
    """An installed qemu-ga that is not qgad installed under that name (a
    qgad package may divert it)."""
    if not os.access(path, os.X_OK):
        return False
    p = subprocess.run([path, '-V'], capture_output=True, timeout=10)
    return b'qgad' not in p.stdout + p.stderr


have_qemu_ga = is_real_qemu_ga(QEMU_GA)
need_qemu_ga = unittest.skipUnless(have_qemu_ga,
                                   'the real qemu-ga is not installed')


def require_built():
    for path in (QGA_CLI, CHECK, QGAD):
        if not os.access(path, os.X_OK):
            print('SKIP: %s not built' % path)
            sys.exit(77)


def agent(kind, *args, env=None):
    """A real agent: kind 'qgad' or 'qemu-ga', accepting connections, with
    env added to its environment. (qgatest.Agent returns once the socket
    file exists, which can be before listen(2): qemu-ga then refuses the
    first connection.)"""
    a = qgatest.Agent(*args, binary=QGAD if kind == 'qgad' else QEMU_GA,
                      env=env)
    deadline = time.time() + qgatest.TIMEOUT
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(a.sock)
            break
        except ConnectionRefusedError:
            if time.time() > deadline:
                a.stop()
                raise
            time.sleep(0.01)
        finally:
            s.close()
    return a


def cli(sock, *args, stdin=None, timeout=60, opts=()):
    """Run qga; (exit code, stdout bytes, stderr text)."""
    p = subprocess.run([QGA_CLI, '-s', sock] + list(opts) + list(args),
                       input=stdin, capture_output=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr.decode(errors='replace')


def cli_json(sock, *args, **kw):
    rc, out, err = cli(sock, '--json', *args, **kw)
    if rc != 0:
        raise AssertionError('qga %s: exit %d: %s' % (args, rc, err))
    return json.loads(out)


def check(sock, *ops, opts=(), timeout=60):
    """Run libqga-check; one parsed JSON object per line."""
    p = subprocess.run([CHECK] + list(opts) + [sock] + list(ops),
                       capture_output=True, timeout=timeout)
    if p.returncode == 2:
        raise AssertionError('libqga-check usage: %s' % p.stderr)
    return [json.loads(line) for line in p.stdout.decode().splitlines()]


class FakeAgent:
    """A unix-socket agent whose answers are scripted. behave(msg, conn)
    returns the bytes to send for one request (b'' for silence). The JSON
    framing and 0xFF handling follow qemu-ga's rules."""

    def __init__(self, behave, preamble=b'', preamble_delay=0):
        self.behave = behave
        self.preamble = preamble
        self.preamble_delay = preamble_delay
        self.tmp = tempfile.TemporaryDirectory(prefix='qga-fake-')
        self.sock = os.path.join(self.tmp.name, 'sock')
        self.lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.lsock.bind(self.sock)
        self.lsock.listen(4)
        self.received = []
        self.stop_flag = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        self.lsock.settimeout(0.1)
        while not self.stop_flag:
            try:
                conn, _ = self.lsock.accept()
            except (socket.timeout, OSError):
                continue
            with conn:
                self.session(conn)

    def session(self, conn):
        conn.settimeout(0.1)
        if self.preamble:
            time.sleep(self.preamble_delay)
            conn.sendall(self.preamble)
        buf = b''
        dec = json.JSONDecoder()
        while not self.stop_flag:
            try:
                data = conn.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            if not data:
                return
            buf += data
            while True:
                if b'\xff' in buf:
                    # The lexer resets; qemu-ga complains once, no id.
                    buf = buf.split(b'\xff')[-1]
                    conn.sendall(b'{"error": {"class": "GenericError", '
                                 b'"desc": "JSON parse error, stray '
                                 b'\'\\ufffd\'"}}\n')
                text = buf.decode(errors='replace').lstrip()
                if not text:
                    buf = b''
                    break
                try:
                    msg, end = dec.raw_decode(text)
                except ValueError:
                    break
                buf = text[end:].encode()
                self.received.append(msg)
                out = self.behave(msg, conn)
                if out:
                    conn.sendall(out)

    def stop(self):
        self.stop_flag = True
        self.thread.join()
        self.lsock.close()
        self.tmp.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def reply(obj, msg=None, echo=True, sentinel=False):
    if echo and msg is not None and 'id' in msg:
        obj = dict(obj, id=msg['id'])
    return (b'\xff' if sentinel else b'') + json.dumps(obj).encode() + b'\n'


def not_found(name):
    return {'error': {'class': 'CommandNotFound',
                      'desc': 'The command %s has not been found' % name}}


def legacy_behaviour(echo=True, reject_id=False, late=None):
    """A qemu-ga of some age. echo: ids come back (>= 4.0); reject_id:
    an id member is an error (<= 2.11, 3.x); late: {command: seconds} to
    answer after a delay (from another thread, like a slow agent)."""
    late = late or {}

    def behave(msg, conn):
        name = msg.get('execute')
        if reject_id and 'id' in msg:
            return reply({'error': {
                'class': 'GenericError',
                'desc': "QMP input object member 'id' is unexpected"}})
        if name == 'guest-sync-delimited':
            return reply({'return': msg['arguments']['id']}, msg, echo,
                         sentinel=True)
        if name == 'guest-sync':
            return reply({'return': msg['arguments']['id']}, msg, echo)
        if name == 'guest-ping':
            out = {'return': {}}
        elif name == 'echo':
            out = {'return': msg.get('arguments', {})}
        elif name == 'guest-shutdown':
            if msg.get('arguments', {}).get('mode') == 'bogus':
                out = {'error': {'class': 'GenericError',
                                 'desc': "Invalid parameter 'mode'"}}
            else:
                return b''
        else:
            out = not_found(name)
        data = reply(out, msg, echo)
        if name in late:
            def later():
                time.sleep(late[name])
                try:
                    conn.sendall(data)
                except OSError:
                    pass
            threading.Thread(target=later, daemon=True).start()
            return b''
        return data
    return behave
