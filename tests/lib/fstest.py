"""Helpers for the filesystem tests: small filesystems the test mounts
itself (a loop-mounted ext4 image in a temp dir), the freeze ioctls for
probing and cleanup, and a lock so that the qgad and qemu-ga runs of the
freeze tests never overlap (a thaw thaws every filesystem).

Never freeze the machine's own filesystems: every freeze in the tests is
a guest-fsfreeze-freeze-list naming mount points made here.
"""
import errno
import fcntl
import os
import re
import shutil
import subprocess
import tempfile
import unittest

FIFREEZE = 0xC0045877
FITHAW = 0xC0045878
LOCK_PATH = '/tmp/qga-fs-tests.lock'
IMAGE_SIZE = 32 << 20

_lock_fd = None


def lock():
    """Serialise the freeze tests of every agent run on this machine."""
    global _lock_fd
    _lock_fd = os.open(LOCK_PATH, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(_lock_fd, fcntl.LOCK_EX)


def unlock():
    global _lock_fd
    if _lock_fd is not None:
        os.close(_lock_fd)
        _lock_fd = None


def thaw(path):
    """FITHAW until it fails; how many calls succeeded."""
    n = 0
    fd = os.open(path, os.O_RDONLY)
    try:
        while n < 64:
            try:
                fcntl.ioctl(fd, FITHAW, 0)
            except OSError:
                break
            n += 1
    finally:
        os.close(fd)
    return n


def is_frozen(path):
    """True when path's filesystem is frozen. A second FIFREEZE answers
    EBUSY; if ours succeeds it was not frozen, and we thaw it again."""
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.ioctl(fd, FIFREEZE, 0)
        except OSError as e:
            if e.errno == errno.EBUSY:
                return True
            raise
        fcntl.ioctl(fd, FITHAW, 0)
        return False
    finally:
        os.close(fd)


def _unescape(b):
    return re.sub(rb'\\([0-7]{3})', lambda m: bytes([int(m.group(1), 8)]),
                  b).decode(errors='surrogateescape')


def mountinfo():
    """(major, minor, mountpoint, fstype, source) per /proc/self/mountinfo
    line, with the kernel's octal escapes decoded."""
    out = []
    with open('/proc/self/mountinfo', 'rb') as f:
        for line in f:
            left, right = line.split(b' - ', 1)
            fields = left.split()
            rfields = right.split()
            major, minor = (int(x) for x in fields[2].split(b':'))
            out.append((major, minor, _unescape(fields[4]),
                        _unescape(rfields[0]),
                        _unescape(rfields[1]) if len(rfields) > 1 else ''))
    return out


def local_filesystems():
    """The list qemu-ga (newest) builds: real block devices (btrfs via its
    source), first mount of each major:minor."""
    seen, out = set(), []
    for major, minor, mnt, fstype, src in mountinfo():
        if major == 0:
            if fstype != 'btrfs':
                continue
            try:
                st = os.stat(src)
            except OSError:
                continue
            if not os.path.stat.S_ISBLK(st.st_mode):
                continue
            major, minor = os.major(st.st_rdev), os.minor(st.st_rdev)
        if (major, minor) in seen:
            continue
        seen.add((major, minor))
        out.append((major, minor, mnt, fstype))
    return out


class LoopFs:
    """An ext4 image loop-mounted under a fresh temp dir (raises SkipTest
    where the machine cannot loop-mount)."""

    def __init__(self, size=IMAGE_SIZE, fstype='ext4'):
        self.dir = tempfile.mkdtemp(prefix='qga-fs-')
        self.image = os.path.join(self.dir, 'image')
        self.mnt = os.path.join(self.dir, 'mnt')
        self.binds = []
        os.mkdir(self.mnt)
        with open(self.image, 'wb') as f:
            f.truncate(size)
        try:
            subprocess.run(['mkfs.' + fstype, '-q', '-F', self.image],
                           check=True, capture_output=True)
            subprocess.run(['mount', '-o', 'loop', self.image, self.mnt],
                           check=True, capture_output=True)
        except (OSError, subprocess.CalledProcessError) as e:
            shutil.rmtree(self.dir)
            raise unittest.SkipTest('cannot loop-mount an %s image here: %s'
                                    % (fstype, getattr(e, 'stderr', e)))
        st = os.stat(self.mnt)
        self.major, self.minor = os.major(st.st_dev), os.minor(st.st_dev)

    def bind(self, name, subdir=None):
        """Bind-mount the filesystem (or a directory in it) at <dir>/name."""
        src = self.mnt
        if subdir:
            src = os.path.join(self.mnt, subdir)
            os.makedirs(src, exist_ok=True)
        target = os.path.join(self.dir, name)
        os.mkdir(target)
        subprocess.run(['mount', '--bind', src, target], check=True)
        self.binds.append(target)
        return target

    def tmpfs(self, name):
        """Mount a tmpfs (a pseudo filesystem, major 0) at <dir>/name."""
        target = os.path.join(self.dir, name)
        os.mkdir(target)
        subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=1m', 'qgatest',
                        target], check=True)
        self.binds.append(target)
        return target

    def close(self):
        thaw(self.mnt)
        for b in reversed(self.binds):
            subprocess.run(['umount', b], check=False)
        subprocess.run(['umount', self.mnt], check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


def connect(agent):
    """agent.connect(); qgatest.Conn itself waits for listen()."""
    return agent.connect()


class LoopFsTest(unittest.TestCase):
    """Mix-in for an AgentTest: one loop filesystem per class (self.fs),
    made before the agent starts and removed after it stops, whatever
    fails in between. Subclasses add to it in prepare_fs()."""

    @classmethod
    def prepare_fs(cls):
        pass

    @classmethod
    def setUpClass(cls):
        cls.fs = LoopFs()
        try:
            cls.prepare_fs()
            super().setUpClass()
        except Exception:
            cls.fs.close()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.fs.close()
