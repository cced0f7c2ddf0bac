"""The daemon around the protocol: options, the config file, --dump-conf,
allow/block lists, the state directory, daemonising, signals, socket
activation. Runs against qgad and qemu-ga; 7.2's known differences (no -a,
no -c, no allow-rpcs line) are noted where they matter."""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
from qgatest import (AGENT, Agent, Conn, is_qemu_ga, main,  # noqa: E402
                     require_qgad, stuck_in_handler)

TEST_CONF = """[general]
daemon=false
method=virtio-serial
path=/path/to/org.qemu.guest_agent.0
pidfile=/var/foo/qemu-ga.pid
statedir=/var/state
verbose=true
block-rpcs=guest-ping;guest-get-time
"""


def run(*args, env=None, cwd=None):
    full = dict(os.environ)
    full['QGA_CONF'] = '/nonexistent/qemu-ga.conf'
    full.update(env or {})
    return subprocess.run([AGENT] + list(args), env=full, cwd=cwd,
                          capture_output=True, timeout=30)


def keyfile(text):
    out = {}
    lines = text.splitlines()
    assert lines[0] == '[general]', lines
    for line in lines[1:]:
        k, v = line.split('=', 1)
        out[k] = v
    return out


class DumpConf(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.conf = os.path.join(self.tmp.name, 'test-qga-config')
        with open(self.conf, 'w') as f:
            f.write(TEST_CONF)

    def tearDown(self):
        self.tmp.cleanup()

    def test_qemu_test_suite_config(self):
        # tests/unit/test-qga.c /qga/config, step by step.
        p = run('-D', env={'QGA_CONF': self.conf})
        self.assertEqual(p.returncode, 0)
        self.assertEqual(p.stderr, b'')
        kf = keyfile(p.stdout.decode())
        self.assertEqual(kf['daemon'], 'false')
        self.assertEqual(kf['method'], 'virtio-serial')
        self.assertEqual(kf['path'], '/path/to/org.qemu.guest_agent.0')
        self.assertEqual(kf['pidfile'], '/var/foo/qemu-ga.pid')
        self.assertEqual(kf['statedir'], '/var/state')
        self.assertEqual(kf['verbose'], 'true')
        self.assertEqual(kf['block-rpcs'].split(';'), ['guest-ping', 'guest-get-time'])

    def test_exact_key_order(self):
        p = run('-D', '-b', 'guest-ping,guest-info', '-b', 'guest-exec', '-F',
                '-l', '/tmp/log', '-m', 'unix-listen', '-p', '/s')
        self.assertEqual(p.returncode, 0)
        expected = ('[general]\ndaemon=false\nmethod=unix-listen\npath=/s\n'
                    'logfile=/tmp/log\npidfile=/var/run/qemu-ga.pid\n'
                    'fsfreeze-hook=/etc/qemu/fsfreeze-hook\nstatedir=/var/run\n'
                    'verbose=false\nretry-path=false\n'
                    'block-rpcs=guest-info,guest-ping,guest-exec\n')
        if not is_qemu_ga():
            expected += 'allow-rpcs=\nnegotiation=optional\n'
        self.assertEqual(p.stdout.decode(), expected)

    def test_defaults(self):
        kf = keyfile(run('-D').stdout.decode())
        self.assertEqual(kf['method'], 'virtio-serial')
        self.assertEqual(kf['path'], '/dev/virtio-ports/org.qemu.guest_agent.0')
        self.assertEqual(kf['statedir'], '/var/run')
        self.assertNotIn('logfile', kf)
        kf = keyfile(run('-D', '-m', 'isa-serial').stdout.decode())
        self.assertEqual(kf['path'], '/dev/ttyS0')

    def test_cli_overrides_config_lists_accumulate(self):
        with open(self.conf, 'a') as f:
            f.write('retry-path=1\n')
        p = run('-D', '-m', 'unix-listen', '-p', '/x', '-b', 'guest-info',
                env={'QGA_CONF': self.conf})
        kf = keyfile(p.stdout.decode())
        self.assertEqual(kf['method'], 'unix-listen')
        self.assertEqual(kf['path'], '/x')
        self.assertEqual(kf['retry-path'], 'true')
        self.assertEqual(kf['block-rpcs'], 'guest-ping;guest-get-time,guest-info')

    def test_bad_config_exits_1(self):
        with open(self.conf, 'w') as f:
            f.write('garbage\n')
        p = run('-D', env={'QGA_CONF': self.conf})
        self.assertEqual(p.returncode, 1)
        self.assertIn(b'error loading configuration from path: ' + self.conf.encode(),
                      p.stderr)

    def test_unknown_keys_and_groups_ignored(self):
        with open(self.conf, 'w') as f:
            f.write('# c\n[other]\nx=1\n[general]\nbogus=1\nverbose=1\n')
        kf = keyfile(run('-D', env={'QGA_CONF': self.conf}).stdout.decode())
        self.assertEqual(kf['verbose'], 'true')

    @require_qgad
    def test_config_option(self):
        p = run('-D', '-c', self.conf)
        self.assertEqual(keyfile(p.stdout.decode())['statedir'], '/var/state')
        p = run('-D', '-c', os.path.join(self.tmp.name, 'missing.conf'))
        self.assertEqual(p.returncode, 1)

    @require_qgad
    def test_negotiation_option(self):
        for policy in ('optional', 'required', 'off'):
            kf = keyfile(run('-D', '--negotiation=' + policy).stdout.decode())
            self.assertEqual(kf['negotiation'], policy)
        self.assertEqual(run('--negotiation=maybe').returncode, 1)


class CommandLine(unittest.TestCase):
    def test_version(self):
        p = run('-V')
        self.assertEqual(p.returncode, 0)
        self.assertTrue(p.stdout.startswith(b'QEMU Guest Agent '))

    def test_help(self):
        p = run('--help')
        self.assertEqual(p.returncode, 0)
        for opt in (b'--method', b'--path', b'--logfile', b'--pidfile',
                    b'--fsfreeze-hook', b'--statedir', b'--daemonize',
                    b'--block-rpcs', b'--dump-conf', b'--retry-path'):
            self.assertIn(opt, p.stdout)

    def test_unknown_option(self):
        p = run('--bogus')
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"Unknown option, try '", p.stdout)

    def test_block_help_lists_commands(self):
        p = run('-b', 'help')
        self.assertEqual(p.returncode, 0)
        names = p.stdout.decode().split()
        self.assertEqual(names[:3], ['guest-sync-delimited', 'guest-sync', 'guest-ping'])
        self.assertIn('guest-info', names)

    def test_socket_path_required(self):
        self.assertEqual(run('-m', 'unix-listen').returncode, 1)
        self.assertEqual(run('-m', 'vsock-listen').returncode, 1)

    def test_unsupported_method(self):
        with tempfile.TemporaryDirectory() as d:
            p = run('-m', 'foo', '-p', 'x', '-t', d)
        self.assertEqual(p.returncode, 1)
        self.assertIn(b'unsupported channel method/type: foo', p.stderr)


class Filters(unittest.TestCase):
    def enabled(self, agent):
        c = agent.connect()
        info = c.ok('guest-info')
        c.close()
        return {x['name']: x['enabled'] for x in info['supported_commands']}, agent

    def test_block_rpcs(self):
        # test-qga.c /qga/blockedrpcs
        with Agent('-b', 'guest-ping,guest-get-time') as a:
            c = a.connect()
            r = c.cmd('guest-ping')
            self.assertEqual(r['error']['class'], 'CommandNotFound')
            self.assertIn('has been disabled', r['error']['desc'])
            info = {x['name']: x['enabled'] for x in c.ok('guest-info')['supported_commands']}
            self.assertFalse(info['guest-ping'])
            self.assertTrue(info['guest-sync'])
            c.close()

    @require_qgad
    def test_allow_rpcs(self):
        # test-qga.c /qga/allowedrpcs (qemu-ga 8.1+)
        with Agent('-a', 'guest-ping,guest-info') as a:
            c = a.connect()
            self.assertEqual(c.cmd('guest-ping'), {'return': {}})
            r = c.cmd('guest-sync', {'id': 1})
            self.assertEqual(r['error'], {'class': 'CommandNotFound',
                             'desc': 'Command guest-sync has been disabled: the command is not allowed'})
            c.close()

    @require_qgad
    def test_block_beats_allow(self):
        with Agent('-a', 'guest-ping,guest-info', '-b', 'guest-ping') as a:
            c = a.connect()
            self.assertIn('has been disabled', c.cmd('guest-ping')['error']['desc'])
            self.assertIn('return', c.cmd('guest-info'))
            c.close()

    def test_unknown_names_ignored(self):
        with Agent('-b', 'no-such-command,guest-ping') as a:
            c = a.connect()
            self.assertIn('error', c.cmd('guest-ping'))
            c.close()


class StateDir(unittest.TestCase):
    def test_state_file_created(self):
        with Agent() as a:
            a.connect().close()
            with open(os.path.join(a.statedir, 'qga.state')) as f:
                self.assertEqual(f.read(), '[global]\nfd_counter=1000\n')

    def test_unparsable_state_fails(self):
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, 'qga.state'), 'w') as f:
                f.write('not a keyfile\n')
            p = run('-m', 'unix-listen', '-p', os.path.join(d, 's'), '-t', d)
            self.assertIn(b'failed to load persistent state', p.stderr)
            if not is_qemu_ga():
                self.assertEqual(p.returncode, 1)

    def test_frozen_marker_at_startup(self):
        with tempfile.TemporaryDirectory() as d:
            open(os.path.join(d, 'qga.state.isfrozen'), 'w').close()
            a = Agent(statedir=d)
            try:
                c = a.connect()
                info = {x['name']: x['enabled'] for x in c.ok('guest-info')['supported_commands']}
                for name in ('guest-ping', 'guest-info', 'guest-sync', 'guest-sync-delimited'):
                    self.assertTrue(info[name], name)
                for name in ('guest-get-time', 'guest-file-open', 'guest-exec'):
                    if name in info:
                        self.assertFalse(info[name], name)
                        r = c.cmd(name, {'path': 'x'} if name != 'guest-get-time' else None)
                        self.assertEqual(r['error']['class'], 'CommandNotFound')
                        self.assertIn('has been disabled', r['error']['desc'])
                # qga.state is not created while frozen.
                self.assertFalse(os.path.exists(os.path.join(d, 'qga.state')))
                c.close()
                # SIGTERM is ignored while frozen.
                a.proc.send_signal(signal.SIGTERM)
                time.sleep(0.3)
                self.assertIsNone(a.proc.poll())
            finally:
                a.proc.kill()
                a.proc.wait()
                a.stderr.close()
                a.tmp.cleanup()


class Process(unittest.TestCase):
    def test_sigterm_and_sigint_exit_0(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            a = Agent()
            a.connect().close()
            a.proc.send_signal(sig)
            try:
                rc = a.proc.wait(10)
            except subprocess.TimeoutExpired:
                # The reference qemu-ga, not the product, can deadlock in
                # its handler (qgatest.stuck_in_handler): a warning.
                if not (is_qemu_ga() and stuck_in_handler(a.proc.pid, sig)):
                    raise
                a.proc.kill()
                a.proc.wait()
                a.stop()
                sys.stderr.write('warning: qemu-ga deadlocked in its %s '
                                 'handler\n' % sig.name)
                continue
            self.assertEqual(rc, 0)
            a.stop()

    def test_no_chdir_when_not_daemonized(self):
        # test-qga.c relies on relative paths resolving in the agent's cwd.
        with Agent() as a:
            self.assertEqual(os.readlink('/proc/%d/cwd' % a.proc.pid), a.dir)

    def test_logfile(self):
        with tempfile.TemporaryDirectory() as d:
            log = os.path.join(d, 'agent.log')
            with Agent('-v', '-l', log) as a:
                c = a.connect()
                c.cmd('guest-ping')
                c.close()
                time.sleep(0.2)
            with open(log) as f:
                text = f.read()
            first = text.splitlines()[0]
            stamp, level = first.split(': ')[:2]
            self.assertRegex(stamp, r'^\d+\.\d+$')
            self.assertIn(level, ('debug', 'info', 'message', 'warning'))

    def test_daemonize_and_pidfile(self):
        with tempfile.TemporaryDirectory() as d:
            sock = os.path.join(d, 's')
            pidfile = os.path.join(d, 'agent.pid')
            p = run('-d', '-m', 'unix-listen', '-p', sock, '-t', d, '-f', pidfile)
            self.assertEqual(p.returncode, 0)
            # Both agents create the file, lock it, then write the pid:
            # wait for the whole line, not just the file.
            deadline = time.time() + 10
            text = ''
            while not text.endswith('\n') and time.time() < deadline:
                time.sleep(0.02)
                try:
                    with open(pidfile) as f:
                        text = f.read()
                except FileNotFoundError:
                    pass
            pid = int(text)
            try:
                c = Conn(sock)
                self.assertEqual(c.cmd('guest-ping'), {'return': {}})
                c.close()
                self.assertEqual(os.readlink('/proc/%d/cwd' % pid), '/')
                # A second daemon on the same pidfile cannot lock it.
                p2 = run('-d', '-m', 'unix-listen', '-p', sock + '2', '-t', d, '-f', pidfile)
                self.assertEqual(p2.returncode, 0)
                time.sleep(0.5)
                with open(pidfile) as f:
                    self.assertEqual(int(f.read()), pid)
            finally:
                os.kill(pid, signal.SIGTERM)
            deadline = time.time() + 10
            while os.path.exists(pidfile) and time.time() < deadline:
                time.sleep(0.02)
            self.assertFalse(os.path.exists(pidfile))

    def test_one_client_at_a_time(self):
        with Agent() as a:
            c1 = a.connect()
            c2 = a.connect()
            c2.request('guest-sync', {'id': 2})
            self.assertTrue(c2.no_reply(0.3))
            self.assertEqual(c1.cmd('guest-sync', {'id': 1}), {'return': 1})
            c1.close()
            self.assertEqual(c2.reply(), {'return': 2})
            c2.close()

    def test_client_reset_keeps_agent(self):
        # qemu-ga exits when a client resets the connection (spec 1.11);
        # qgad drops the client and keeps serving.
        with Agent() as a:
            c = a.connect()
            c.send('{"execute":"guest-info"}')
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b'\x01\x00\x00\x00\x00\x00\x00\x00')
            c.close()
            time.sleep(0.3)
            if is_qemu_ga():
                return
            c = a.connect()
            self.assertEqual(c.cmd('guest-ping'), {'return': {}})
            c.close()

    def test_socket_activation(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, 'activated.sock')
            ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            ls.bind(path)
            ls.listen(1)
            env = dict(os.environ, LISTEN_FDS='1', QGA_CONF='/nonexistent')
            proc = subprocess.Popen(
                ['sh', '-c', 'LISTEN_PID=$$ exec "$0" -t "$1"', AGENT, d],
                env=env, pass_fds=(ls.fileno(),), stdin=subprocess.DEVNULL,
                preexec_fn=lambda: os.dup2(ls.fileno(), 3))
            try:
                ls.close()
                c = Conn(path)
                self.assertEqual(c.cmd('guest-ping'), {'return': {}})
                c.close()
            finally:
                proc.send_signal(signal.SIGTERM)
                self.assertEqual(proc.wait(10), 0)


if __name__ == '__main__':
    main()
