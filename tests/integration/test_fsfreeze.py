"""guest-fsfreeze-*: freeze and thaw of a loop-mounted ext4 the test makes
itself (never the machine's own filesystems), the frozen state (marker,
command filter, quiet log, restart, SIGTERM) and the fsfreeze hook.
Runs against qgad and qemu-ga 7.2; the differences are cited from
qga-spec.md where the branches are."""
import os
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
import fstest  # noqa: E402
from qgatest import SRCDIR, TIMEOUT, Agent, AgentTest, is_qemu_ga, main  # noqa: E402

FREEZE_SAFE = ['guest-ping', 'guest-info', 'guest-sync', 'guest-sync-delimited',
               'guest-fsfreeze-status', 'guest-fsfreeze-thaw']


def setUpModule():
    fstest.lock()


def tearDownModule():
    fstest.unlock()


def disabled_desc(name):
    # qga-spec.md §1.10: the frozen reason text changed after 7.2.
    if is_qemu_ga():
        return 'Command %s has been disabled: the agent is in frozen state' % name
    return 'Command %s has been disabled: the command is not allowed' % name


class Writer:
    """A child that creates a file on the filesystem; on a frozen one it
    blocks (uninterruptibly) until the thaw."""

    def __init__(self, path):
        self.path = path
        self.proc = subprocess.Popen(
            [sys.executable, '-c',
             'import sys; open(sys.argv[1], "w").write("x")', path])

    def blocked(self, wait=0.5):
        time.sleep(wait)
        return self.proc.poll() is None

    def finish(self):
        return self.proc.wait(TIMEOUT)


class FreezeTest(fstest.LoopFsTest, AgentTest):
    """One loop filesystem per class; every test leaves it thawed."""

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            for d in cls.__dict__.get('tempdirs', []):
                shutil.rmtree(d, ignore_errors=True)

    @classmethod
    def tempdir(cls, prefix):
        """A temp dir removed with the class."""
        d = tempfile.mkdtemp(prefix=prefix)
        if 'tempdirs' not in cls.__dict__:
            cls.tempdirs = []
        cls.tempdirs.append(d)
        return d

    def setUp(self):
        # Whatever a failing test left behind, never leave it frozen.
        self.addCleanup(fstest.thaw, self.fs.mnt)

    def freeze(self, conn=None):
        conn = conn or self.c
        return conn.cmd('guest-fsfreeze-freeze-list',
                        {'mountpoints': [self.fs.mnt]})

    def marker(self, agent=None):
        return os.path.join((agent or self.agent).statedir,
                            'qga.state.isfrozen')


class FreezeList(FreezeTest):
    def test_status_thawed(self):
        self.assertEqual(self.c.ok('guest-fsfreeze-status'), 'thawed')
        self.assertFalse(os.path.exists(self.marker()))

    def test_freeze_thaw_cycle(self):
        self.assertEqual(self.c.cmd('guest-fsfreeze-freeze-list',
                                    {'mountpoints': [self.fs.mnt, '/no/such']}),
                         {'return': 1})
        self.assertEqual(self.c.ok('guest-fsfreeze-status'), 'frozen')
        self.assertTrue(os.path.exists(self.marker()))
        self.assertEqual(stat.S_IMODE(os.stat(self.marker()).st_mode), 0o600)
        self.assertTrue(fstest.is_frozen(self.fs.mnt))
        w = Writer(os.path.join(self.fs.mnt, 'during-freeze'))
        self.assertTrue(w.blocked(), 'a write went through a frozen fs')
        self.assertEqual(self.c.ok('guest-fsfreeze-thaw'), 1)
        self.assertEqual(w.finish(), 0)
        self.assertEqual(self.c.ok('guest-fsfreeze-status'), 'thawed')
        self.assertFalse(os.path.exists(self.marker()))
        self.assertFalse(fstest.is_frozen(self.fs.mnt))
        # Nothing left to thaw.
        self.assertEqual(self.c.ok('guest-fsfreeze-thaw'), 0)

    def test_empty_list(self):
        self.assertEqual(self.c.cmd('guest-fsfreeze-freeze-list',
                                    {'mountpoints': []}), {'return': 0})
        self.assertEqual(self.c.ok('guest-fsfreeze-status'), 'thawed')
        self.assertFalse(os.path.exists(self.marker()))
        self.assertFalse(fstest.is_frozen(self.fs.mnt))

    def test_unknown_and_pseudo_mount_points(self):
        # Not mounted, not a mount point, a pseudo filesystem: ignored.
        sub = os.path.join(self.fs.mnt, 'subdir')
        os.makedirs(sub, exist_ok=True)
        tmp = self.fs.tmpfs('tmpfs-%d' % os.getpid())
        for mp in ['/no/such/dir', sub, '/proc', tmp, self.fs.mnt + '/']:
            self.assertEqual(self.c.cmd('guest-fsfreeze-freeze-list',
                                        {'mountpoints': [mp]}), {'return': 0}, mp)
            self.assertEqual(self.c.ok('guest-fsfreeze-status'), 'thawed')
        self.assertFalse(fstest.is_frozen(self.fs.mnt))

    def test_bad_argument(self):
        r = self.c.cmd('guest-fsfreeze-freeze-list', {'mountpoints': 'x'})
        self.assertError(r, 'GenericError')
        self.assertEqual(self.c.ok('guest-fsfreeze-status'), 'thawed')

    def test_only_safe_commands_while_frozen(self):
        self.assertEqual(self.freeze(), {'return': 1})
        try:
            for name in ['guest-get-fsinfo', 'guest-fstrim',
                         'guest-fsfreeze-freeze']:
                r = self.c.cmd(name)
                self.assertError(r, 'CommandNotFound', disabled_desc(name))
            r = self.c.cmd('guest-fsfreeze-freeze-list',
                           {'mountpoints': [self.fs.mnt]})
            self.assertError(r, 'CommandNotFound',
                             disabled_desc('guest-fsfreeze-freeze-list'))
            self.assertEqual(self.c.ok('guest-ping'), {})
            self.assertEqual(self.c.ok('guest-sync', {'id': 5}), 5)
            info = self.c.ok('guest-info')['supported_commands']
            enabled = sorted(c['name'] for c in info if c['enabled'])
            # qgad's own handshake commands are freeze-safe too (schema).
            handshake = {'qmp_capabilities', 'request-negotiation'}
            expect = set(FREEZE_SAFE) | (handshake & {c['name'] for c in info})
            self.assertEqual(enabled, sorted(expect))
        finally:
            self.assertEqual(self.c.ok('guest-fsfreeze-thaw'), 1)
        info = self.c.ok('guest-info')['supported_commands']
        self.assertTrue(all(c['enabled'] for c in info
                            if c['name'] in ('guest-get-fsinfo',
                                             'guest-fstrim')))

    def test_each_filesystem_frozen_once(self):
        # The mount point twice, a bind mount of the whole filesystem and
        # of a directory in it: still one filesystem.
        whole = self.fs.bind('bind-whole')
        part = self.fs.bind('bind-dir', 'sub')
        try:
            r = self.c.cmd('guest-fsfreeze-freeze-list',
                           {'mountpoints': [self.fs.mnt, part, whole,
                                            self.fs.mnt]})
            self.assertEqual(r, {'return': 1})
            self.assertEqual(self.c.ok('guest-fsfreeze-thaw'), 1)
            self.assertFalse(fstest.is_frozen(self.fs.mnt))
            # Naming only a bind mount: qgad (like newest qemu-ga) does not
            # list bind mounts at all; 7.2 does (qga-spec.md §7, "fs lists").
            r = self.c.cmd('guest-fsfreeze-freeze-list',
                           {'mountpoints': [part]})
            self.assertEqual(r, {'return': 1 if is_qemu_ga() else 0})
            self.c.ok('guest-fsfreeze-thaw')
            self.assertFalse(fstest.is_frozen(self.fs.mnt))
        finally:
            fstest.thaw(self.fs.mnt)
            for b in (part, whole):
                subprocess.run(['umount', b], check=True)
                self.fs.binds.remove(b)
                os.rmdir(b)

    def test_externally_frozen_is_not_an_error(self):
        # EBUSY (frozen by someone else) is ignored and not counted.
        fd = os.open(self.fs.mnt, os.O_RDONLY)
        try:
            import fcntl
            fcntl.ioctl(fd, fstest.FIFREEZE, 0)
        finally:
            os.close(fd)
        self.assertEqual(self.freeze(), {'return': 0})
        self.assertEqual(self.c.ok('guest-fsfreeze-status'), 'thawed')
        # thaw still thaws it (the count says someone did).
        self.assertEqual(self.c.ok('guest-fsfreeze-thaw'), 1)
        self.assertFalse(fstest.is_frozen(self.fs.mnt))


class FrozenLog(FreezeTest):
    """Nothing is written to the log file while frozen."""

    @classmethod
    def setUpClass(cls):
        cls.logdir = cls.tempdir('qga-fs-log-')
        cls.logfile = os.path.join(cls.logdir, 'agent.log')
        cls.agent_args = ('-v', '-l', cls.logfile)
        super().setUpClass()

    def size(self):
        return os.path.getsize(self.logfile)

    def test_log_quiet_while_frozen(self):
        self.c.ok('guest-ping')
        self.assertGreater(self.size(), 0)
        self.assertEqual(self.freeze(), {'return': 1})
        before = self.size()
        for _ in range(5):
            self.c.ok('guest-ping')
        self.c.cmd('guest-get-fsinfo')
        self.assertEqual(self.size(), before)
        self.assertEqual(self.c.ok('guest-fsfreeze-thaw'), 1)
        self.c.ok('guest-ping')
        self.assertGreater(self.size(), before)


class Restart(FreezeTest):
    """An agent killed while frozen leaves the marker; the next one comes
    up frozen and its thaw thaws the filesystem."""

    def test_restart_frozen(self):
        statedir = self.tempdir('qga-fs-state-')
        a = Agent(statedir=statedir)
        try:
            c = fstest.connect(a)
            self.assertEqual(self.freeze(c), {'return': 1})
            a.proc.kill()
            a.proc.wait()
            c.close()
        finally:
            a.stop()
        marker = os.path.join(statedir, 'qga.state.isfrozen')
        self.assertTrue(os.path.exists(marker))
        self.assertTrue(fstest.is_frozen(self.fs.mnt))
        with Agent(statedir=statedir) as b:
            c = fstest.connect(b)
            self.assertEqual(c.ok('guest-fsfreeze-status'), 'frozen')
            self.assertError(c.cmd('guest-get-fsinfo'), 'CommandNotFound',
                             disabled_desc('guest-get-fsinfo'))
            self.assertEqual(c.ok('guest-fsfreeze-thaw'), 1)
            self.assertEqual(c.ok('guest-fsfreeze-status'), 'thawed')
            self.assertFalse(os.path.exists(marker))
            self.assertFalse(fstest.is_frozen(self.fs.mnt))
            c.close()

    def test_marker_without_frozen_fs(self):
        # Filesystems thawed by hand, marker left: thaw answers 0 and clears.
        statedir = self.tempdir('qga-fs-state-')
        marker = os.path.join(statedir, 'qga.state.isfrozen')
        open(marker, 'w').close()
        with Agent(statedir=statedir) as b:
            c = fstest.connect(b)
            self.assertEqual(c.ok('guest-fsfreeze-status'), 'frozen')
            # Deferred while frozen: no qga.state yet (qga-spec.md §1.9).
            self.assertFalse(os.path.exists(os.path.join(statedir, 'qga.state')))
            self.assertEqual(c.ok('guest-fsfreeze-thaw'), 0)
            self.assertEqual(c.ok('guest-fsfreeze-status'), 'thawed')
            self.assertFalse(os.path.exists(marker))
            c.close()


class Signals(FreezeTest):
    """SIGTERM never leaves filesystems frozen: ignored while frozen, and
    after the thaw the agent exits cleanly."""

    def test_sigterm_while_frozen(self):
        with Agent() as a:
            c = fstest.connect(a)
            self.assertEqual(self.freeze(c), {'return': 1})
            for sig in (signal.SIGTERM, signal.SIGINT):
                a.proc.send_signal(sig)
                time.sleep(0.3)
                self.assertIsNone(a.proc.poll(), 'agent exited while frozen')
                self.assertEqual(c.ok('guest-fsfreeze-status'), 'frozen')
                self.assertTrue(fstest.is_frozen(self.fs.mnt))
            self.assertEqual(c.ok('guest-fsfreeze-thaw'), 1)
            c.close()
            # Let the agent finish with the hang-up first: qemu-ga quits
            # its GLib loop from inside the signal handler, which can
            # deadlock when the signal lands mid-iteration.
            time.sleep(0.5)
            a.proc.send_signal(signal.SIGTERM)
            self.assertEqual(a.proc.wait(TIMEOUT), 0)
        self.assertFalse(fstest.is_frozen(self.fs.mnt))


HOOK = '''#!/bin/sh
echo "$1" >> "%(log)s"
if [ -e "%(fail)s.$1" ]; then
    echo "hook refuses to $1"
    exit 3
fi
exit 0
'''


class Hook(FreezeTest):
    @classmethod
    def setUpClass(cls):
        cls.hookdir = cls.tempdir('qga-fs-hook-')
        cls.hooklog = os.path.join(cls.hookdir, 'calls')
        cls.failflag = os.path.join(cls.hookdir, 'fail')
        hook = os.path.join(cls.hookdir, 'hook')
        with open(hook, 'w') as f:
            f.write(HOOK % {'log': cls.hooklog, 'fail': cls.failflag})
        os.chmod(hook, 0o755)
        cls.agent_args = ('-F' + hook,)
        super().setUpClass()

    def setUp(self):
        super().setUp()
        for f in (self.hooklog, self.failflag + '.freeze', self.failflag + '.thaw'):
            if os.path.exists(f):
                os.unlink(f)

    def calls(self):
        if not os.path.exists(self.hooklog):
            return []
        with open(self.hooklog) as f:
            return f.read().split()

    def test_freeze_thaw_hook(self):
        self.assertEqual(self.freeze(), {'return': 1})
        self.assertEqual(self.calls(), ['freeze'])
        self.assertEqual(self.c.ok('guest-fsfreeze-thaw'), 1)
        self.assertEqual(self.calls(), ['freeze', 'thaw'])

    def test_hook_freeze_failure(self):
        open(self.failflag + '.freeze', 'w').close()
        r = self.freeze()
        if is_qemu_ga():
            # 7.2 has its own texts (qga-spec.md §2.3, hook protocol).
            self.assertError(r, 'GenericError',
                             'fsfreeze hook has failed with status 3')
        else:
            self.assertError(r, 'GenericError', contains=
                             'child process has failed to execute fsfreeze '
                             'hook: hook refuses to freeze')
        self.assertEqual(self.calls(), ['freeze'])
        self.assertEqual(self.c.ok('guest-fsfreeze-status'), 'thawed')
        self.assertFalse(os.path.exists(self.marker()))
        self.assertFalse(fstest.is_frozen(self.fs.mnt))

    def test_hook_thaw_failure(self):
        self.assertEqual(self.freeze(), {'return': 1})
        open(self.failflag + '.thaw', 'w').close()
        r = self.c.cmd('guest-fsfreeze-thaw')
        # The filesystems are thawed and the state is left even so.
        self.assertIn('error', r)
        self.assertEqual(self.c.ok('guest-fsfreeze-status'), 'thawed')
        self.assertFalse(fstest.is_frozen(self.fs.mnt))
        self.assertEqual(self.calls(), ['freeze', 'thaw'])

    def test_nothing_frozen(self):
        self.assertEqual(self.c.cmd('guest-fsfreeze-freeze-list',
                                    {'mountpoints': []}), {'return': 0})
        if is_qemu_ga():
            # qemu-ga leaves the hook's freeze without a thaw when nothing
            # was frozen; qgad thaws it (deliberate, see the report /
            # clients-ecosystem.md §3 item 6).
            self.assertEqual(self.calls(), ['freeze'])
        else:
            self.assertEqual(self.calls(), ['freeze', 'thaw'])

    def test_missing_hook(self):
        with Agent('-F' + os.path.join(self.hookdir, 'no-such-hook')) as a:
            c = fstest.connect(a)
            r = self.freeze(c)
            self.assertIn('error', r)
            if not is_qemu_ga():
                self.assertIn("failed to exec", r['error']['desc'])
            self.assertEqual(c.ok('guest-fsfreeze-status'), 'thawed')
            self.assertFalse(fstest.is_frozen(self.fs.mnt))
            c.close()


# Blocks in the phases the test asks for, after saying so (and its pid) on
# a FIFO: the agent is then provably in the middle of the command. The
# hook's own wait is on another FIFO nobody writes; the test kills it.
KILL_HOOK = '''#!/bin/sh
if [ -e "%(block)s.$1" ]; then
    echo "$1 $$" > "%(started)s"
    exec cat "%(forever)s"
fi
exit 0
'''


class KillMidCommand(FreezeTest):
    """The agent killed with SIGKILL in the middle of a command (in the
    fsfreeze hook, which both agents wait for) and restarted on the same
    state directory: the handle counter continues from qga.state and the
    frozen state is what the kill left, never a stale one. Killed while
    frozen between commands: Restart.test_restart_frozen."""

    @classmethod
    def setUpClass(cls):
        cls.hookdir = cls.tempdir('qga-fs-kill-')
        cls.block = os.path.join(cls.hookdir, 'block')
        cls.started = os.path.join(cls.hookdir, 'started')
        forever = os.path.join(cls.hookdir, 'forever')
        os.mkfifo(cls.started)
        os.mkfifo(forever)
        cls.hook = os.path.join(cls.hookdir, 'hook')
        with open(cls.hook, 'w') as f:
            f.write(KILL_HOOK % {'block': cls.block, 'started': cls.started,
                                 'forever': forever})
        os.chmod(cls.hook, 0o755)
        cls.agent_args = ('-F' + cls.hook,)
        super().setUpClass()

    def setUp(self):
        super().setUp()
        for phase in ('freeze', 'thaw'):
            if os.path.exists(self.block + '.' + phase):
                os.unlink(self.block + '.' + phase)
        self.statedir = self.tempdir('qga-fs-kill-state-')
        self.files = self.tempdir('qga-fs-kill-files-')

    def open_handles(self, c, n):
        return [c.ok('guest-file-open',
                     {'path': os.path.join(self.files, 'f%d' % i), 'mode': 'w'})
                for i in range(n)]

    def counter(self):
        with open(os.path.join(self.statedir, 'qga.state')) as f:
            for line in f:
                if line.startswith('fd_counter='):
                    return int(line.split('=', 1)[1])
        self.fail('no fd_counter in qga.state')

    def kill_in_hook(self, a, c, phase, name, args=None):
        """Send name, wait until the hook runs phase, SIGKILL the agent."""
        open(self.block + '.' + phase, 'w').close()
        fd = os.open(self.started, os.O_RDONLY | os.O_NONBLOCK)
        try:
            c.request(name, args)
            ready, _, _ = select.select([fd], [], [], TIMEOUT)
            self.assertTrue(ready, 'the %s hook did not run' % phase)
            said = os.read(fd, 100).decode().split()
        finally:
            os.close(fd)
        self.assertEqual(said[0], phase)
        hook_pid = int(said[1])
        self.addCleanup(self.kill_quietly, hook_pid)
        a.proc.kill()
        a.proc.wait()
        c.close()
        a.stop()

    @staticmethod
    def kill_quietly(pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def restart_and_check(self, before, counter):
        """A new agent: thawed, old handles gone, new ones above them."""
        self.assertGreater(counter, max(before))
        with Agent('-F' + self.hook, statedir=self.statedir) as b:
            c = fstest.connect(b)
            self.assertEqual(c.ok('guest-fsfreeze-status'), 'thawed')
            self.assertFalse(os.path.exists(self.marker(b)))
            self.assertFalse(fstest.is_frozen(self.fs.mnt))
            self.assertError(c.cmd('guest-file-close', {'handle': before[-1]}),
                             desc="handle '%d' has not been found" % before[-1])
            h = self.open_handles(c, 1)[0]
            self.assertGreater(h, max(before))
            self.assertEqual(h, counter)
            self.assertEqual(self.counter(), h + 1)
            c.close()

    def test_kill_in_freeze_hook(self):
        # The freeze hook runs before the marker is written and anything
        # is frozen (qga-spec.md: qemu-ga's order): the agent comes back
        # thawed.
        a = Agent('-F' + self.hook, statedir=self.statedir)
        c = fstest.connect(a)
        before = self.open_handles(c, 3)
        self.assertEqual(before, sorted(set(before)))
        counter = self.counter()
        self.kill_in_hook(a, c, 'freeze', 'guest-fsfreeze-freeze-list',
                          {'mountpoints': [self.fs.mnt]})
        self.assertFalse(os.path.exists(self.marker(a)))
        self.assertFalse(fstest.is_frozen(self.fs.mnt))
        self.assertEqual(self.counter(), counter)
        self.restart_and_check(before, counter)

    def test_kill_in_thaw_hook(self):
        # The thaw hook runs after the filesystems are thawed and the
        # marker removed: killed there, the agent comes back thawed.
        a = Agent('-F' + self.hook, statedir=self.statedir)
        c = fstest.connect(a)
        before = self.open_handles(c, 2)
        self.assertEqual(self.freeze(c), {'return': 1})
        self.assertTrue(os.path.exists(self.marker(a)))
        counter = self.counter()
        self.kill_in_hook(a, c, 'thaw', 'guest-fsfreeze-thaw')
        self.assertFalse(os.path.exists(self.marker(a)))
        self.assertFalse(fstest.is_frozen(self.fs.mnt))
        self.restart_and_check(before, counter)


class ShippedHook(FreezeTest):
    """scripts/fsfreeze-hook as the agent's hook: it runs the executables
    in fsfreeze-hook.d/ beside it, skips backups, always exits 0."""

    @classmethod
    def setUpClass(cls):
        cls.hookdir = cls.tempdir('qga-fs-shipped-')
        hook = os.path.join(cls.hookdir, 'fsfreeze-hook')
        with open(os.path.join(SRCDIR, 'scripts', 'fsfreeze-hook')) as f:
            text = f.read()
        with open(hook, 'w') as f:
            f.write(text)
        os.chmod(hook, 0o755)
        d = os.path.join(cls.hookdir, 'fsfreeze-hook.d')
        os.mkdir(d)
        cls.calls = os.path.join(cls.hookdir, 'calls')
        scripts = {'10-record': 'echo "10 $1" >> %s' % cls.calls,
                   '20-fails': 'echo "20 $1" >> %s; echo broken; exit 7'
                               % cls.calls,
                   '30-record': 'echo "30 $1" >> %s' % cls.calls}
        for skipped in ('10-record.bak', '10-record~', '10-record.rpmnew',
                        '10-record.dpkg-old', '10-record.sample'):
            scripts[skipped] = 'echo "skipped $1" >> %s' % cls.calls
        for name, body in scripts.items():
            p = os.path.join(d, name)
            with open(p, 'w') as f:
                f.write('#!/bin/sh\n' + body + '\n')
            os.chmod(p, 0o755)
        p = os.path.join(d, '40-not-executable')
        with open(p, 'w') as f:
            f.write('#!/bin/sh\necho "40 $1" >> %s\n' % cls.calls)
        cls.hooklog = os.path.join(cls.hookdir, 'hook.log')
        cls.agent_args = ('-F' + hook,)
        cls.agent_env = {'QGA_FSFREEZE_HOOK_LOG': cls.hooklog}
        super().setUpClass()

    def test_runs_hook_dir(self):
        self.assertEqual(self.freeze(), {'return': 1})
        self.assertEqual(self.c.ok('guest-fsfreeze-thaw'), 1)
        with open(self.calls) as f:
            self.assertEqual(f.read().splitlines(),
                             ['10 freeze', '20 freeze', '30 freeze',
                              '10 thaw', '20 thaw', '30 thaw'])
        with open(self.hooklog) as f:
            log = f.read()
        self.assertIn('broken', log)
        self.assertIn('failed with status 7', log)


if __name__ == '__main__':
    main()
