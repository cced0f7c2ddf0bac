"""Test helpers: start a guest agent (qgad, or the real qemu-ga for
compatibility runs) on a unix socket in a fresh directory and talk to it
over the real socket.

QGA_AGENT names the binary under test (default: build/qgad). Tests that
only make sense for qgad call require_qgad(); a missing qemu-ga skips the
whole file (exit code 77, meson's "skipped").

QGA_AGENT_WRAPPER, when set, is a command line (split on spaces) put in
front of the agent, e.g. "valgrind --error-exitcode=99 --leak-check=full";
it must exec the agent in the same process (valgrind does), so signals
and /proc/<pid> still reach it. Memory checks that read RSS are skipped
under a wrapper (see wrapped()).
"""
import base64
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.dirname(os.path.dirname(HERE))
AGENT = os.path.abspath(os.environ.get('QGA_AGENT') or os.path.join(SRCDIR, 'build', 'qgad'))
WRAPPER = os.environ.get('QGA_AGENT_WRAPPER', '').split()
TIMEOUT = float(os.environ.get('QGA_TEST_TIMEOUT', '30' if WRAPPER else '10'))


def is_qemu_ga():
    return os.path.basename(AGENT).startswith('qemu-ga')


def wrapped():
    """True when the agent runs under QGA_AGENT_WRAPPER (valgrind...)."""
    return bool(WRAPPER)


def proc_rss_kb(pid):
    """Resident set size of a process, in KiB."""
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    raise RuntimeError('no VmRSS for %d' % pid)


def proc_fds(pid):
    """Open file descriptors of a process (their targets), sorted."""
    d = '/proc/%d/fd' % pid
    out = []
    for n in os.listdir(d):
        try:
            out.append(os.readlink(os.path.join(d, n)))
        except OSError:
            pass
    return sorted(out)


# Agent.stop(): how often it looks, and how long a reference qemu-ga may sit
# in its SIGTERM handler waiting on a lock before it counts as deadlocked.
STOP_POLL = 0.1
STOP_PATIENCE = TIMEOUT * 6
HANDLER_STUCK = 2.0


def stuck_in_handler(pid, signo):
    """True when pid runs the handler of signo (the signal is blocked in
    its main thread) and sleeps on a futex. qemu-ga 7.2's SIGTERM handler
    calls g_debug(), which is not async-signal-safe: when the signal lands
    while the main thread holds the same lock it deadlocks for good, and
    only SIGKILL ends it (seen under load, about one run in ten)."""
    try:
        with open('/proc/%d/status' % pid) as f:
            blocked = [ln for ln in f if ln.startswith('SigBlk:')]
        with open('/proc/%d/wchan' % pid) as f:
            wchan = f.read()
    except OSError:
        return False
    return bool(blocked) and bool(int(blocked[0].split()[1], 16) & (1 << (signo - 1))) \
        and 'futex' in wchan


def terminate(proc, reference=None):
    """SIGTERM an agent process and wait for it; SIGKILL when it does not
    exit within STOP_PATIENCE, or at once when it is a reference qemu-ga
    deadlocked in its handler (stuck_in_handler). reference: whether proc
    is qemu-ga (default: whether the agent under test is). Returns the
    status."""
    if reference is None:
        reference = is_qemu_ga()
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        # qemu-ga only sees the signal between requests: after a 64 MiB
        # message it can take a while; a loaded machine slows either.
        deadline = time.time() + STOP_PATIENCE
        stuck = 0
        while proc.poll() is None and time.time() < deadline:
            time.sleep(STOP_POLL)
            stuck = stuck + 1 if stuck_in_handler(proc.pid, signal.SIGTERM) else 0
            if reference and stuck * STOP_POLL >= HANDLER_STUCK:
                break
        if proc.poll() is None:
            proc.kill()
    return proc.wait()


def skip_unless_agent():
    if not os.access(AGENT, os.X_OK):
        print('SKIP: agent %s is not installed' % AGENT)
        sys.exit(77)


def require_qgad(test):
    """Decorator: the test is about qgad's own extensions."""
    return unittest.skipIf(is_qemu_ga(), 'qgad only')(test)


def b64(data):
    return base64.b64encode(data).decode()


def unb64(text):
    return base64.b64decode(text)


class Conn:
    """One client connection. Replies are read line by line; a leading
    0xFF (the guest-sync-delimited sentinel) is kept in raw reads and
    stripped by reply()."""

    def __init__(self, path, timeout=TIMEOUT):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        # The socket file appears at bind(), a moment before listen().
        deadline = time.time() + timeout
        while True:
            try:
                self.sock.connect(path)
                break
            except (ConnectionRefusedError, FileNotFoundError):
                if time.time() > deadline:
                    raise
                time.sleep(0.01)
        # A bytearray, searched only where new data arrived, consumed from
        # the front (cheap for bytearray): reading a 64 MiB reply and
        # reading 100k pipelined replies both stay linear.
        self.buf = bytearray()

    def close(self):
        self.sock.close()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def line(self, timeout=None):
        """The next raw reply line (with its sentinel, without '\\n')."""
        old = self.sock.gettimeout()
        if timeout is not None:
            self.sock.settimeout(timeout)
        if not isinstance(self.buf, bytearray):     # set by a helper
            self.buf = bytearray(self.buf)
        try:
            start = 0
            while True:
                end = self.buf.find(b'\n', start)
                if end >= 0:
                    break
                start = len(self.buf)
                chunk = self.sock.recv(1 << 20)
                if not chunk:
                    raise EOFError('agent closed the connection')
                self.buf += chunk
        finally:
            self.sock.settimeout(old)
        line = bytes(self.buf[:end])
        del self.buf[:end + 1]
        return line

    def reply(self, timeout=None):
        raw = self.line(timeout)
        return json.loads(raw.lstrip(b'\xff'))

    def no_reply(self, wait=0.3):
        """True when nothing arrives within wait seconds."""
        try:
            self.line(wait)
        except (socket.timeout, TimeoutError):
            return True
        return False

    def request(self, name, args=None, id=None, **kw):
        msg = {'execute': name}
        if args is not None:
            msg['arguments'] = args
        if id is not None:
            msg['id'] = id
        msg.update(kw)
        self.send(json.dumps(msg) + '\n')

    def cmd(self, name, args=None, id=None, **kw):
        self.request(name, args, id, **kw)
        return self.reply()

    def ok(self, name, args=None):
        """Run a command that must succeed; its return value."""
        r = self.cmd(name, args)
        if 'return' not in r:
            raise AssertionError('%s failed: %r' % (name, r))
        return r['return']

    def sync(self, ident=12345):
        """0xFF + guest-sync-delimited; discard everything up to the reply."""
        self.send(b'\xff')
        self.request('guest-sync-delimited', {'id': ident})
        while True:
            raw = self.line()
            if raw.startswith(b'\xff'):
                r = json.loads(raw[1:])
                if r.get('return') == ident:
                    return


class Agent:
    """An agent process in its own temporary directory (its cwd and
    statedir), listening on <dir>/sock."""

    def __init__(self, *args, env=None, binary=None, statedir=None,
                 method_args=None):
        self.binary = binary or AGENT
        self.tmp = tempfile.TemporaryDirectory(prefix='qga-test-')
        self.dir = self.tmp.name
        self.sock = os.path.join(self.dir, 'sock')
        self.statedir = statedir or self.dir
        self.log = os.path.join(self.dir, 'agent.log')
        full_env = dict(os.environ)
        full_env.setdefault('QGA_CONF', os.path.join(self.dir, 'no-such.conf'))
        full_env.update(env or {})
        if method_args is None:
            method_args = ['-m', 'unix-listen', '-p', self.sock]
        # The wrapper (valgrind) is for the agent under test, not for a
        # reference qemu-ga started beside it.
        wrapper = WRAPPER if self.binary == AGENT else []
        cmd = wrapper + [self.binary] + method_args + ['-t', self.statedir] + list(args)
        self.stderr = open(self.log, 'wb')
        self.proc = subprocess.Popen(cmd, cwd=self.dir, env=full_env,
                                     stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=self.stderr)
        self.wait_ready()

    def wait_ready(self):
        deadline = time.time() + TIMEOUT
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError('agent exited with %d: %s' %
                                   (self.proc.returncode, self.log_text()))
            if os.path.exists(self.sock):
                return
            time.sleep(0.01)
        raise RuntimeError('agent did not create its socket')

    def connect(self):
        return Conn(self.sock)

    def log_text(self):
        with open(self.log, 'rb') as f:
            return f.read().decode(errors='replace')

    def stop(self):
        """SIGTERM; returns the exit status."""
        terminate(self.proc, 'qemu-ga' in os.path.basename(self.binary))
        self.stderr.close()
        self.tmp.cleanup()
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class AgentTest(unittest.TestCase):
    """One agent per test class; self.c is a connection to it."""
    agent_args = ()
    agent_env = None

    @classmethod
    def setUpClass(cls):
        cls.agent = Agent(*cls.agent_args, env=cls.agent_env)
        cls.c = cls.agent.connect()

    @classmethod
    def tearDownClass(cls):
        cls.c.close()
        rc = cls.agent.stop()
        if rc == -signal.SIGKILL and is_qemu_ga():
            # The reference agent, not the product, deadlocked in its
            # SIGTERM handler (stuck_in_handler): a warning. qgad must
            # exit 0.
            sys.stderr.write('warning: qemu-ga did not exit on SIGTERM\n')
            return
        if rc != 0:
            raise AssertionError('agent exited with status %d' % rc)

    def assertError(self, reply, cls='GenericError', desc=None, contains=None):
        self.assertIn('error', reply, reply)
        self.assertNotIn('return', reply)
        self.assertEqual(reply['error']['class'], cls, reply)
        if desc is not None:
            self.assertEqual(reply['error']['desc'], desc)
        if contains is not None:
            self.assertIn(contains, reply['error']['desc'])


def main():
    skip_unless_agent()
    unittest.main(verbosity=2)
