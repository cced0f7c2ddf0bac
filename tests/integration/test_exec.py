"""guest-exec and guest-exec-status: PATH lookup, arguments, environment,
stdin, every capture mode, the 16 MiB cap, exit codes and signals, and the
agent staying responsive with no zombies. Runs against qgad and qemu-ga
(qga-spec.md §2.3 "guest-exec", §5 guest-exec steps)."""
import os
import stat
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
from qgatest import b64, is_qemu_ga, main, unb64  # noqa: E402
from qgaaction import ActionTest  # noqa: E402

MAX_OUTPUT = 16 * 1024 * 1024
LOOP = 'for i in 1 2; do echo stdout; echo stderr >&2; done'


class ExecTest(ActionTest):
    def start(self, path, *args, **kw):
        req = {'path': path}
        if args:
            req['arg'] = list(args)
        req.update({k.replace('_', '-'): v for k, v in kw.items()})
        r = self.c.cmd('guest-exec', req)
        self.assertIn('return', r, r)
        pid = r['return']['pid']
        self.assertIsInstance(pid, int)
        self.assertGreater(pid, 0)
        return pid

    def wait(self, pid, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            s = self.c.ok('guest-exec-status', {'pid': pid})
            if s['exited']:
                return s
            self.assertEqual(s, {'exited': False})
            time.sleep(0.02)
        self.fail('pid %d did not exit' % pid)

    def run_cmd(self, path, *args, **kw):
        s = self.wait(self.start(path, *args, **kw))
        for key in ('out-data', 'err-data'):
            if key in s:
                s[key] = unb64(s[key])
        return s

    def sh(self, script, **kw):
        return self.run_cmd('sh', '-c', script, **kw)


class TestQgaSteps(ExecTest):
    def test_guest_exec(self):
        """test-qga.c /qga/guest-exec."""
        s = self.run_cmd('echo', '-n', '" test_str "', capture_output=True)
        self.assertEqual(s, {'exited': True, 'exitcode': 0,
                             'out-data': b'" test_str "', 'out-truncated': False})

    def test_guest_exec_separated(self):
        """test-qga.c /qga/guest-exec-separated (newest only)."""
        r = self.c.cmd('guest-exec', {'path': 'bash', 'arg': ['-c', LOOP],
                                      'capture-output': 'separated'})
        if is_qemu_ga():
            # 7.2's capture-output is bool only (qga-spec.md §7).
            self.assertError(r, desc="Invalid parameter type for 'capture-output', "
                             'expected: boolean')
            return
        s = self.wait(r['return']['pid'])
        self.assertEqual(s['exitcode'], 0)
        self.assertEqual(unb64(s['out-data']), b'stdout\nstdout\n')
        self.assertEqual(unb64(s['err-data']), b'stderr\nstderr\n')

    def test_guest_exec_merged(self):
        """test-qga.c /qga/guest-exec-merged (newest only)."""
        r = self.c.cmd('guest-exec', {'path': 'bash', 'arg': ['-c', LOOP],
                                      'capture-output': 'merged'})
        if is_qemu_ga():
            self.assertError(r, desc="Invalid parameter type for 'capture-output', "
                             'expected: boolean')
            return
        s = self.wait(r['return']['pid'])
        self.assertEqual(s['exitcode'], 0)
        self.assertEqual(unb64(s['out-data']), b'stdout\nstderr\nstdout\nstderr\n')
        self.assertNotIn('err-data', s)
        self.assertNotIn('err-truncated', s)

    def test_guest_exec_invalid(self):
        """test-qga.c /qga/guest-exec-invalid, with the exact texts."""
        r = self.c.cmd('guest-exec', {'path': '/bin/invalid-cmd42'})
        msg = 'Failed to execute child process \u201c/bin/invalid-cmd42\u201d ' \
              '(No such file or directory)'
        if is_qemu_ga():
            # 7.2 wraps command failures (qga-spec.md §1.6).
            msg = "Guest agent command failed, error was '%s'" % msg
        self.assertError(r, desc=msg)
        r = self.c.cmd('guest-exec-status', {'pid': 0})
        # 7.2: "Invalid parameter 'pid'"; newest means "PID <n> does not
        # exist" but prints "PID ld ..." (qga-spec.md §2.3); qgad prints n.
        self.assertError(r, desc="Invalid parameter 'pid'" if is_qemu_ga()
                         else 'PID 0 does not exist')


class TestCapture(ExecTest):
    def test_bool_and_absent(self):
        for kw in ({}, {'capture_output': False}):
            s = self.sh('echo out; echo err >&2; exit 0', **kw)
            self.assertEqual(s, {'exited': True, 'exitcode': 0})
        s = self.sh('echo out; echo err >&2', capture_output=True)
        self.assertEqual(s, {'exited': True, 'exitcode': 0,
                             'out-data': b'out\n', 'out-truncated': False,
                             'err-data': b'err\n', 'err-truncated': False})

    def test_modes(self):
        want = {
            'none': {},
            'stdout': {'out-data': b'out\n', 'out-truncated': False},
            'stderr': {'err-data': b'err\n', 'err-truncated': False},
            'separated': {'out-data': b'out\n', 'out-truncated': False,
                          'err-data': b'err\n', 'err-truncated': False},
            'merged': {'out-data': b'out\nerr\n', 'out-truncated': False},
        }
        for mode, extra in want.items():
            with self.subTest(mode=mode):
                req = {'path': 'sh', 'arg': ['-c', 'echo out; echo err >&2'],
                       'capture-output': mode}
                r = self.c.cmd('guest-exec', req)
                if is_qemu_ga():
                    self.assertError(r, desc="Invalid parameter type for "
                                     "'capture-output', expected: boolean")
                    continue
                s = self.wait(r['return']['pid'])
                for key in ('out-data', 'err-data'):
                    if key in s:
                        s[key] = unb64(s[key])
                self.assertEqual(s, dict({'exited': True, 'exitcode': 0}, **extra))

    def test_bad_mode(self):
        r = self.c.cmd('guest-exec', {'path': 'true', 'capture-output': 'both'})
        self.assertError(r)
        r = self.c.cmd('guest-exec', {'path': 'true', 'capture-output': 1})
        self.assertError(r)

    def test_empty_output_has_no_data(self):
        s = self.run_cmd('true', capture_output=True)
        self.assertEqual(s, {'exited': True, 'exitcode': 0})

    def test_output_after_exit_is_collected(self):
        """exited waits for the pipes: a grandchild still writes."""
        s = self.sh('echo a; (sleep 1; echo b) & exit 0', capture_output=True)
        self.assertEqual(s['out-data'], b'a\nb\n')

    def test_binary_output(self):
        data = bytes(range(256)) * 64
        s = self.run_cmd('cat', input_data=b64(data), capture_output=True)
        self.assertTrue(s['out-data'] == data)


class TestLimits(ExecTest):
    def big(self, n, fd):
        pid = self.start('sh', '-c', 'head -c %d /dev/zero >&%d' % (n, fd),
                         capture_output=True)
        deadline = time.time() + 120
        while time.time() < deadline:
            s = self.big_cmd('guest-exec-status', {'pid': pid})['return']
            if s['exited']:
                for key in ('out-data', 'err-data'):
                    if key in s:
                        s[key] = unb64(s[key])
                        self.assertEqual(s[key], b'\0' * len(s[key]))
                return s
            time.sleep(0.05)
        self.fail('pid %d did not exit' % pid)

    def test_stdout_at_cap(self):
        s = self.big(MAX_OUTPUT, 1)
        self.assertEqual(len(s['out-data']), MAX_OUTPUT)
        self.assertFalse(s['out-truncated'])

    def test_stdout_past_cap(self):
        s = self.big(MAX_OUTPUT + 1, 1)
        self.assertEqual(len(s['out-data']), MAX_OUTPUT)
        self.assertTrue(s['out-truncated'])
        self.assertNotIn('err-data', s)

    def test_flood_does_not_starve_the_agent(self):
        pid = self.start('timeout', '3', 'yes', capture_output=True)
        for _ in range(5):
            t = time.time()
            self.assertEqual(self.c.ok('guest-ping'), {})
            self.assertLess(time.time() - t, 1.0)
            time.sleep(0.2)
        deadline = time.time() + 120
        while time.time() < deadline:
            s = self.big_cmd('guest-exec-status', {'pid': pid})['return']
            if s['exited']:
                break
            time.sleep(0.1)
        self.assertEqual(s['exitcode'], 124)
        # How much yes writes in 3 s depends on the machine's load.
        out = unb64(s['out-data'])
        self.assertLessEqual(len(out), MAX_OUTPUT)
        if s['out-truncated']:
            self.assertEqual(len(out), MAX_OUTPUT)
        self.assertEqual(out[:4], b'y\ny\n')

    def test_stderr_past_cap(self):
        s = self.big(MAX_OUTPUT + 100000, 2)
        self.assertEqual(len(s['err-data']), MAX_OUTPUT)
        self.assertTrue(s['err-truncated'])
        self.assertNotIn('out-data', s)


class TestInput(ExecTest):
    def test_stdin(self):
        s = self.run_cmd('cat', input_data=b64(b'hello\nworld'), capture_output=True)
        self.assertEqual(s['out-data'], b'hello\nworld')

    def test_empty_input_is_eof(self):
        s = self.run_cmd('cat', input_data='', capture_output=True)
        self.assertEqual(s, {'exited': True, 'exitcode': 0})

    def test_no_input_is_dev_null(self):
        s = self.sh('cat; readlink /proc/self/fd/0', capture_output=True)
        self.assertEqual(s['out-data'], b'/dev/null\n')

    def test_large_input(self):
        data = os.urandom(3 * 1024 * 1024)
        pid = self.start('sha256sum', input_data=b64(data), capture_output=True)
        # Written asynchronously: the agent answers meanwhile.
        self.assertEqual(self.c.ok('guest-ping'), {})
        s = self.wait(pid)
        import hashlib
        self.assertEqual(unb64(s['out-data']).split()[0].decode(),
                         hashlib.sha256(data).hexdigest())

    def test_child_ignoring_input(self):
        s = self.run_cmd('true', input_data=b64(os.urandom(1024 * 1024)))
        self.assertEqual(s, {'exited': True, 'exitcode': 0})
        self.assertEqual(self.c.ok('guest-ping'), {})

    def test_bad_base64(self):
        r = self.c.cmd('guest-exec', {'path': 'cat', 'input-data': 'not base64!'})
        self.assertError(r, desc='Base64 data contains invalid characters')


class TestArgsEnv(ExecTest):
    def test_args_are_not_split_or_expanded(self):
        s = self.run_cmd('printf', '%s|', 'a b', '$HOME', '*', '', "'q'",
                         capture_output=True)
        self.assertEqual(s['out-data'], b"a b|$HOME|*||'q'|")

    def test_env_replaces_environment(self):
        s = self.run_cmd('/usr/bin/env', env=['A=1', 'B=two words'], capture_output=True)
        self.assertEqual(s['out-data'], b'A=1\nB=two words\n')
        s = self.run_cmd('/usr/bin/env', env=[], capture_output=True)
        self.assertEqual(s, {'exited': True, 'exitcode': 0})

    def test_inherited_environment(self):
        s = self.run_cmd('/usr/bin/env', capture_output=True)
        self.assertIn(b'PATH=', s['out-data'])

    def test_path_from_env(self):
        bindir = os.path.join(self.agent.dir, 'bin')
        os.makedirs(bindir, exist_ok=True)
        prog = os.path.join(bindir, 'qga-test-prog')
        with open(prog, 'w') as f:
            f.write('#!/bin/sh\necho from-env-path "$@"\n')
        os.chmod(prog, 0o755)
        s = self.run_cmd('qga-test-prog', 'x', env=['PATH=/nonexistent:' + bindir],
                         capture_output=True)
        self.assertEqual(s['out-data'], b'from-env-path x\n')
        # Not in the agent's own PATH.
        r = self.c.cmd('guest-exec', {'path': 'qga-test-prog'})
        self.assertError(r, contains='(No such file or directory)')
        # A PATH in env without the program: not found, though the agent's
        # PATH has it.
        r = self.c.cmd('guest-exec', {'path': 'echo', 'env': ['PATH=/nonexistent']})
        self.assertError(r, contains='\u201cecho\u201d (No such file or directory)')

    def test_relative_path_and_cwd(self):
        prog = os.path.join(self.agent.dir, 'local-prog')
        with open(prog, 'w') as f:
            f.write('#!/bin/sh\npwd\n')
        os.chmod(prog, 0o755)
        s = self.run_cmd('./local-prog', capture_output=True)
        self.assertEqual(s['out-data'].decode().strip(),
                         os.path.realpath(self.agent.dir))

    def test_script_without_shebang(self):
        prog = os.path.join(self.agent.dir, 'noshebang')
        with open(prog, 'w') as f:
            f.write('echo run-by-sh "$1"\n')
        os.chmod(prog, 0o755)
        s = self.run_cmd(prog, 'arg1', capture_output=True)
        self.assertEqual(s['out-data'], b'run-by-sh arg1\n')

    def test_empty_path(self):
        msg = 'Failed to execute child process \u201c\u201d (No such file or directory)'
        if is_qemu_ga():
            msg = "Guest agent command failed, error was '%s'" % msg
        self.assertError(self.c.cmd('guest-exec', {'path': ''}), desc=msg)

    def test_not_executable(self):
        prog = os.path.join(self.agent.dir, 'noexec')
        with open(prog, 'w') as f:
            f.write('#!/bin/sh\n')
        os.chmod(prog, stat.S_IRUSR | stat.S_IWUSR)
        r = self.c.cmd('guest-exec', {'path': prog})
        self.assertError(r, contains='\u201c%s\u201d (Permission denied)' % prog)
        r = self.c.cmd('guest-exec', {'path': self.agent.dir})
        self.assertError(r, contains='(Permission denied)')


class TestStatus(ExecTest):
    def test_exit_codes(self):
        for code in (0, 1, 3, 255):
            s = self.sh('exit %d' % code)
            self.assertEqual(s, {'exited': True, 'exitcode': code})

    def test_signal(self):
        s = self.sh('kill -9 $$')
        self.assertEqual(s, {'exited': True, 'signal': 9})
        s = self.sh('kill -TERM $$')
        self.assertEqual(s, {'exited': True, 'signal': 15})

    def test_child_gets_default_sigpipe(self):
        # The agent ignores SIGPIPE; its children must not inherit that:
        # yes is killed by SIGPIPE (128 + 13), not told EPIPE (exit 1).
        s = self.run_cmd('bash', '-c', 'yes | head -c 1 >/dev/null; '
                         'echo ${PIPESTATUS[0]}', capture_output=True)
        self.assertEqual(s['out-data'], b'141\n')

    def test_record_removed_after_exited(self):
        pid = self.start('true')
        self.wait(pid)
        r = self.c.cmd('guest-exec-status', {'pid': pid})
        self.assertError(r, desc="Invalid parameter 'pid'" if is_qemu_ga()
                         else 'PID %d does not exist' % pid)

    def test_unknown_pids(self):
        for pid in (-1, 1, 2 ** 31, 2 ** 62):
            r = self.c.cmd('guest-exec-status', {'pid': pid})
            self.assertError(r, desc="Invalid parameter 'pid'" if is_qemu_ga()
                             else 'PID %d does not exist' % pid)

    def test_responsive_and_no_zombies(self):
        pid = self.start('sleep', '2')
        t = time.time()
        self.assertEqual(self.c.ok('guest-ping'), {})
        self.assertEqual(self.c.ok('guest-exec-status', {'pid': pid}), {'exited': False})
        self.assertLess(time.time() - t, 1.5)
        # Reaped by the agent without being asked: no zombie is left.
        deadline = time.time() + 30
        while os.path.exists('/proc/%d' % pid) and time.time() < deadline:
            time.sleep(0.05)
        self.assertFalse(os.path.exists('/proc/%d' % pid), 'child left as a zombie')
        self.assertEqual(self.wait(pid), {'exited': True, 'exitcode': 0})

    def test_many_children(self):
        pids = [self.start('sh', '-c', 'exit %d' % (i % 7), capture_output=True)
                for i in range(30)]
        for i, pid in enumerate(pids):
            self.assertEqual(self.wait(pid), {'exited': True, 'exitcode': i % 7})
        agent_pid = self.agent.proc.pid
        with open('/proc/%d/task/%d/children' % (agent_pid, agent_pid)) as f:
            self.assertEqual(f.read().split(), [])


if __name__ == '__main__':
    main()
