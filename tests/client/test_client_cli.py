"""The qga CLI: usage errors, exit codes, exec, file transfer, the
no-success-response verbs (against a scripted agent only: never shut the
test machine down), and the interactive shell on a pty. exec and file
transfer run against every agent that has the commands (qemu-ga now, qgad
as they land)."""
import hashlib
import json
import os
import pty
import select
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clienttest import (QGA_CLI, FakeAgent, agent, cli, cli_json,  # noqa
                        have_qemu_ga, legacy_behaviour, reply,
                        require_built)


class Usage(unittest.TestCase):
    def test_usage_errors(self):
        with agent('qgad') as a:
            self.assertEqual(cli(a.sock)[0], 2)
            rc, _, err = cli(a.sock, 'frobnicate')
            self.assertEqual(rc, 2)
            self.assertIn('unknown verb', err)
            rc, _, err = cli(a.sock, 'f')
            self.assertEqual(rc, 2)
            self.assertIn('ambiguous', err)
            rc, _, err = cli(a.sock, 'call', 'guest-ping', '[1]')
            self.assertEqual(rc, 2)
            rc, _, err = cli(a.sock, 'call', 'guest-ping', '{bad')
            self.assertEqual(rc, 2)
            rc, _, err = cli(a.sock, 'ping', 'extra')
            self.assertEqual(rc, 2)
            self.assertIn('usage: ping', err)
            # A unique prefix selects the verb.
            rc, out, _ = cli(a.sock, 'pin')
            self.assertEqual((rc, out), (0, b'ok\n'))

    def test_connect_failures(self):
        rc, _, err = cli('/nonexistent/sock', 'ping')
        self.assertEqual(rc, 3)
        self.assertIn('connect', err)
        rc, _, err = cli('/x', 'ping', opts=('--vsock', 'nonsense'))
        self.assertEqual(rc, 2)

    def test_agent_error_exit_1(self):
        with agent('qgad') as a:
            rc, _, err = cli(a.sock, 'call', 'guest-no-such')
        self.assertEqual(rc, 1)
        self.assertIn('CommandNotFound: The command guest-no-such has not '
                      'been found', err)

    def test_call_raw(self):
        with agent('qgad') as a:
            self.assertEqual(cli_json(a.sock, 'call', 'guest-sync',
                                      '{"id": 1234567890123}'),
                             1234567890123)


def agents_with(command):
    """Agents to run a CLI test on: those whose guest-info has command."""
    kinds = ['qgad'] + (['qemu-ga'] if have_qemu_ga else [])
    out = []
    for kind in kinds:
        with agent(kind) as a:
            names = [c['name'] for c in
                     cli_json(a.sock, 'info')['supported_commands']]
        if command in names:
            out.append(kind)
    return out


class Exec(unittest.TestCase):
    def setUp(self):
        self.kinds = agents_with('guest-exec')
        if not self.kinds:
            self.skipTest('no agent with guest-exec')

    def test_exit_code_and_streams(self):
        for kind in self.kinds:
            with self.subTest(kind), agent(kind) as a:
                rc, out, err = cli(a.sock, 'exec', '/bin/sh', '-c',
                                   'echo out; echo err >&2; exit 7')
                self.assertEqual((rc, out, err), (7, b'out\n', 'err\n'))
                rc, out, _ = cli(a.sock, 'exec', '-i', '/bin/cat',
                                 stdin=b'from stdin\x00\xff')
                self.assertEqual((rc, out), (0, b'from stdin\x00\xff'))
                rc, _, _ = cli(a.sock, 'exec', '/bin/sh', '-c', 'kill -9 $$')
                self.assertEqual(rc, 128 + 9)
                rc, out, _ = cli(a.sock, 'exec', '-e', 'QGA_T=v', '/bin/sh',
                                 '-c', 'echo $QGA_T')
                self.assertEqual(out, b'v\n')
                st = cli_json(a.sock, 'exec', '/bin/true')
                self.assertEqual((st['exited'], st['exitcode']), (True, 0))
                rc, _, err = cli(a.sock, 'exec', '/nonexistent/prog')
                self.assertEqual(rc, 1, err)


class Files(unittest.TestCase):
    def setUp(self):
        self.kinds = agents_with('guest-file-open')
        if not self.kinds:
            self.skipTest('no agent with guest-file-*')
        self.tmp = tempfile.TemporaryDirectory(prefix='qga-cli-')

    def tearDown(self):
        self.tmp.cleanup()

    def test_put_get_cat_round_trip(self):
        local = os.path.join(self.tmp.name, 'data')
        # Larger than one chunk and not a multiple of it.
        payload = os.urandom((3 << 20) + 12345)
        with open(local, 'wb') as f:
            f.write(payload)
        for kind in self.kinds:
            with self.subTest(kind), agent(kind) as a:
                remote = os.path.join(a.dir, 'remote')
                back = os.path.join(self.tmp.name, 'back-' + kind)
                t0 = time.monotonic()
                self.assertEqual(cli_json(a.sock, 'put', local, remote),
                                 {'bytes': len(payload)})
                t_put = time.monotonic() - t0
                with open(remote, 'rb') as f:
                    self.assertEqual(f.read(), payload)
                t0 = time.monotonic()
                self.assertEqual(cli_json(a.sock, 'get', remote, back),
                                 {'bytes': len(payload)})
                t_get = time.monotonic() - t0
                with open(back, 'rb') as f:
                    self.assertEqual(hashlib.sha256(f.read()).hexdigest(),
                                     hashlib.sha256(payload).hexdigest())
                rc, out, _ = cli(a.sock, 'cat', remote)
                self.assertEqual((rc, out), (0, payload))
                print('%s: put %.1f MiB/s, get %.1f MiB/s' % (
                    kind, len(payload) / t_put / 1048576,
                    len(payload) / t_get / 1048576), file=sys.stderr)

    def test_progress_bar_on_a_terminal(self):
        local = os.path.join(self.tmp.name, 'big')
        with open(local, 'wb') as f:
            f.write(os.urandom(5 << 20))
        kind = self.kinds[0]
        with agent(kind) as a:
            remote = os.path.join(a.dir, 'big')
            back = os.path.join(self.tmp.name, 'big-back')
            for argv in (['put', local, remote], ['get', remote, back]):
                pid, fd = pty.fork()
                if pid == 0:
                    os.execv(QGA_CLI, ['qga', '-s', a.sock] + argv)
                out = pty_read(fd, b'100%', 120)
                _, status = os.waitpid(pid, 0)
                self.assertEqual(os.waitstatus_to_exitcode(status), 0)
                self.assertIn(b'100% 5.0/5.0 MiB', out, argv)
        with open(back, 'rb') as f, open(local, 'rb') as g:
            self.assertEqual(f.read(), g.read())

    def test_empty_file_and_missing_file(self):
        empty = os.path.join(self.tmp.name, 'empty')
        open(empty, 'wb').close()
        for kind in self.kinds:
            with self.subTest(kind), agent(kind) as a:
                remote = os.path.join(a.dir, 'e')
                self.assertEqual(cli_json(a.sock, 'put', empty, remote),
                                 {'bytes': 0})
                rc, out, _ = cli(a.sock, 'cat', remote)
                self.assertEqual((rc, out), (0, b''))
                rc, _, err = cli(a.sock, 'get', '/nonexistent/x',
                                 os.path.join(self.tmp.name, 'x'))
                self.assertEqual(rc, 1, err)


class NoSuccessResponse(unittest.TestCase):
    def test_shutdown_family_against_fake(self):
        with FakeAgent(legacy_behaviour()) as f:
            for verb in ('shutdown', 'reboot', 'halt'):
                rc, _, err = cli(f.sock, verb)
                self.assertEqual(rc, 0, err)
            modes = [m['arguments']['mode'] for m in f.received
                     if m['execute'] == 'guest-shutdown']
            self.assertEqual(modes, ['powerdown', 'reboot', 'halt'])
            # The fake has no suspend: its CommandNotFound is a failure.
            rc, _, err = cli(f.sock, 'suspend', 'ram')
            self.assertEqual(rc, 1)
            self.assertIn('guest-suspend-ram', err)
            rc, _, _ = cli(f.sock, 'suspend', 'nap')
            self.assertEqual(rc, 2)


class RequestShapes(unittest.TestCase):
    """Verbs that would change the test machine (freeze, trim, clock) run
    against a scripted agent: what they send and how they print."""
    canned = {
        'guest-fsfreeze-freeze': 3,
        'guest-fsfreeze-freeze-list': 2,
        'guest-fsfreeze-thaw': 3,
        'guest-fstrim': {'paths': [{'path': '/', 'trimmed': 4096,
                                    'minimum': 512}]},
        'guest-set-time': {},
    }

    def behave(self, msg, conn):
        name = msg['execute']
        if name in self.canned:
            return reply({'return': self.canned[name]}, msg)
        return legacy_behaviour()(msg, conn)

    def test_shapes(self):
        with FakeAgent(self.behave) as f:
            runs = [
                (['fsfreeze', 'freeze'], b'3 filesystems\n'),
                (['fsfreeze', 'freeze', '/a', '/b'], b'2 filesystems\n'),
                (['fsfreeze', 'thaw'], b'3 filesystems\n'),
                (['fstrim', '512'], None),
                (['time', 'set', '1234567890'], b'ok\n'),
                (['time', 'set'], b'ok\n'),
                (['time', 'set', 'now'], b'ok\n'),
            ]
            for argv, want in runs:
                rc, out, err = cli(f.sock, *argv)
                self.assertEqual(rc, 0, '%s: %s' % (argv, err))
                if want is not None:
                    self.assertEqual(out, want, argv)
            sent = [(m['execute'], m.get('arguments'))
                    for m in f.received if m['execute'] in self.canned]
        self.assertEqual(sent[:6], [
            ('guest-fsfreeze-freeze', None),
            ('guest-fsfreeze-freeze-list', {'mountpoints': ['/a', '/b']}),
            ('guest-fsfreeze-thaw', None),
            ('guest-fstrim', {'minimum': 512}),
            ('guest-set-time', {'time': 1234567890}),
            ('guest-set-time', None)])
        host_ns = sent[6][1]['time']
        self.assertLess(abs(host_ns / 1e9 - time.time()), 60)


def pty_read(fd, until, timeout=5.0):
    """What a pty shows until `until` appears, EOF, or the timeout."""
    out = b''
    end = time.time() + timeout
    while until not in out and time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                out += os.read(fd, 4096)
            except OSError:
                break
    return out


class Shell(unittest.TestCase):
    def read(self, fd, until, timeout=5.0):
        return pty_read(fd, until, timeout)

    def spawn(self, sock, hist):
        pid, fd = pty.fork()
        if pid == 0:
            os.execve(QGA_CLI, ['qga', '-s', sock, 'shell'],
                      dict(os.environ, QGA_HISTORY=hist, TERM='xterm'))
        return pid, fd

    def test_history_and_completion(self):
        tmp = tempfile.TemporaryDirectory(prefix='qga-hist-')
        self.addCleanup(tmp.cleanup)
        hist = os.path.join(tmp.name, 'history')
        with agent('qgad') as a:
            pid, fd = self.spawn(a.sock, hist)
            try:
                self.read(fd, b'qga> ')
                # Completion of a command name from guest-info.
                os.write(fd, b'call guest-pi\t')
                self.assertIn(b'ng ', self.read(fd, b'ng '))
                os.write(fd, b'\n')
                self.assertIn(b'{}', self.read(fd, b'qga> '))
                # Completion of a verb, then history (up arrow) recalls it.
                os.write(fd, b'hostn\t\n')
                self.read(fd, b'qga> ')
                os.write(fd, b'\x1b[A\x1b[A')
                self.assertIn(b'call guest-ping', self.read(fd, b'ping'))
                os.write(fd, b'\x15quit\n')
                self.read(fd, b'never', 1.0)
            finally:
                _, status = os.waitpid(pid, 0)
            self.assertTrue(os.WIFEXITED(status))
            # The history outlives the session.
            pid, fd = self.spawn(a.sock, hist)
            try:
                self.read(fd, b'qga> ')
                os.write(fd, b'\x1b[A\x1b[A\x1b[A')
                self.assertIn(b'call guest-ping', self.read(fd, b'ping'))
                os.write(fd, b'\x15quit\n')
                self.read(fd, b'never', 1.0)
            finally:
                os.waitpid(pid, 0)

    def test_piped_script(self):
        os.environ['QGA_HISTORY'] = os.devnull
        with agent('qgad') as a:
            rc, out, err = cli(a.sock, 'shell', stdin=b'ping\n'
                               b'call guest-sync {"id": 5}\nquit\n')
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, b'ok\n5\n')


if __name__ == '__main__':
    require_built()
    unittest.main(verbosity=2)
