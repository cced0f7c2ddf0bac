"""VM test harness: boot a real Linux guest under QEMU/TCG with a guest
agent inside and drive it over virtio-serial (and isa-serial) from the host.

Pieces:
  ensure_kernel()  the Debian cloud kernel, fetched with `apt-get download`
                   and unpacked with `dpkg-deb -x` (never installed), cached
                   between runs in $QGA_VM_CACHE, else $XDG_CACHE_HOME/qga-vm,
                   else ~/.cache/qga-vm.
  build_initrd()   a busybox initramfs holding both agents (the qgad under
                   test and Debian's qemu-ga, each with its `ldd` libraries),
                   the needed kernel modules and /init (guest/init).
  VM               one QEMU process: QMP, the agent chardevs, a control shell
                   on a second virtio-serial port; always stopped by stop()
                   (also as a context manager and at interpreter exit).

Nothing here needs the host's libqga: the host side is Python stdlib so
that cases calling the `qga` CLI can be added next to these.

Environment:
  QGA_VM_REQUIRED=1   a missing QEMU/kernel fails instead of skipping (CI).
  QGA_VM_KEEP=1       keep the run directory (console.log, agent logs).
  QGA_VM_VERBOSE=1    print QMP traffic and control-shell commands.
"""
import atexit
import fcntl
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SRCDIR, 'tests', 'lib'))

QEMU = shutil.which('qemu-system-x86_64') or '/usr/bin/qemu-system-x86_64'
QEMU_GA = '/usr/sbin/qemu-ga'
BUSYBOX = '/bin/busybox'
KERNEL_META = 'linux-image-cloud-amd64'
# Modules loaded in the guest (dependencies are added from modules.dep).
GUEST_MODULES = ['virtio_pci', 'virtio_console', 'virtio_blk']
# The qga agent port and the harness's own control port.
QGA_PORT = 'org.qemu.guest_agent.0'
CTL_PORT = 'org.qgatest.ctl'
BOOT_TIMEOUT = float(os.environ.get('QGA_VM_BOOT_TIMEOUT', '180'))
VERBOSE = bool(os.environ.get('QGA_VM_VERBOSE'))
T0 = time.monotonic()


def log(msg):
    print('[%7.2fs] %s' % (time.monotonic() - T0, msg), flush=True)


def vlog(msg):
    if VERBOSE:
        log(msg)


def skip(reason):
    """Skip the whole test program (meson: exit 77), or fail in CI."""
    if os.environ.get('QGA_VM_REQUIRED') == '1':
        print('FAIL (QGA_VM_REQUIRED=1): ' + reason, flush=True)
        sys.exit(1)
    print('SKIP: ' + reason, flush=True)
    sys.exit(77)


def check_host():
    """Skip unless this machine can run the VM tests at all."""
    if not os.access(QEMU, os.X_OK):
        skip('qemu-system-x86_64 is not installed (run tests/vm/setup.sh)')
    if not os.access(BUSYBOX, os.X_OK) or not _is_static(BUSYBOX):
        skip('a static busybox is not installed (run tests/vm/setup.sh: '
             'busybox-static)')
    for tool in ('cpio', 'depmod'):
        if not shutil.which(tool) and not os.path.exists('/sbin/' + tool):
            skip('%s is not installed (run tests/vm/setup.sh)' % tool)


def agent_version(path):
    """The first line of `path --version`, or '' if it does not run."""
    try:
        r = subprocess.run([path, '--version'], capture_output=True,
                           text=True, timeout=10)
    except OSError:
        return ''
    return (r.stdout or r.stderr).strip().splitlines()[0] if \
        (r.stdout or r.stderr).strip() else ''


def is_debian_qemu_ga(path=QEMU_GA):
    """True for the real qemu-ga, not a qgad installed in its place (a
    qgad package may divert /usr/sbin/qemu-ga to itself)."""
    v = agent_version(path) if os.access(path, os.X_OK) else ''
    return v.startswith('QEMU Guest Agent') and 'qgad' not in v


def _is_static(path):
    r = subprocess.run(['ldd', path], capture_output=True, text=True)
    return r.returncode != 0 or 'not a dynamic' in (r.stdout + r.stderr)


# ---- kernel --------------------------------------------------------------

def cache_dir():
    d = os.environ.get('QGA_VM_CACHE')
    if not d:
        base = os.environ.get('XDG_CACHE_HOME') or \
            os.path.join(os.path.expanduser('~'), '.cache')
        d = os.path.join(base, 'qga-vm')
    os.makedirs(d, exist_ok=True)
    return d


def _run(cmd, **kw):
    vlog('$ ' + ' '.join(cmd))
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def _resolve_kernel_package():
    def depends():
        r = subprocess.run(['apt-cache', 'depends', KERNEL_META],
                           capture_output=True, text=True)
        m = re.search(r'Depends: (linux-image-\S+)', r.stdout)
        return m.group(1) if m else None
    pkg = depends()
    if pkg is None and os.geteuid() == 0:
        subprocess.run(['apt-get', 'update', '-q'], capture_output=True)
        pkg = depends()
    return pkg


def ensure_kernel():
    """(vmlinuz, module dir, kernel version) from the cache, fetching the
    kernel package on the first run. The cache keeps only the kernel image
    and the few modules the guest loads (about 15 MB)."""
    root = cache_dir()
    with open(os.path.join(root, '.lock'), 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)      # parallel tests share the cache
        cur = os.path.join(root, 'current')
        if os.path.exists(os.path.join(cur, 'KVER')):
            with open(os.path.join(cur, 'KVER')) as f:
                kver = f.read().strip()
            return os.path.join(cur, 'vmlinuz'), os.path.join(cur, 'modules'), kver
        if not shutil.which('apt-get') or not shutil.which('dpkg-deb'):
            skip('no cached kernel and no apt-get/dpkg-deb to fetch one')
        pkg = _resolve_kernel_package()
        if pkg is None:
            skip('no cached kernel and apt cannot resolve %s' % KERNEL_META)
        kver = pkg[len('linux-image-'):]
        log('fetching kernel package %s into %s' % (pkg, root))
        tmp = tempfile.mkdtemp(prefix='kernel-', dir=root)
        try:
            try:
                _run(['apt-get', 'download', pkg], cwd=tmp)
            except subprocess.CalledProcessError as e:
                skip('cannot download %s: %s' % (pkg, e.stderr.strip()[-300:]))
            deb = [f for f in os.listdir(tmp) if f.endswith('.deb')][0]
            kroot = os.path.join(tmp, 'kroot')
            _run(['dpkg-deb', '-x', os.path.join(tmp, deb), kroot])
            depmod = shutil.which('depmod') or '/sbin/depmod'
            _run([depmod, '-b', kroot, kver])
            out = os.path.join(tmp, 'out')
            os.makedirs(os.path.join(out, 'modules'))
            shutil.copy(os.path.join(kroot, 'boot', 'vmlinuz-' + kver),
                        os.path.join(out, 'vmlinuz'))
            order = _module_order(os.path.join(kroot, 'lib', 'modules', kver))
            names = []
            for rel in order:
                name = os.path.basename(rel)
                shutil.copy(os.path.join(kroot, 'lib', 'modules', kver, rel),
                            os.path.join(out, 'modules', name))
                names.append(name)
            with open(os.path.join(out, 'modules', 'load-order'), 'w') as f:
                f.write('\n'.join(names) + '\n')
            with open(os.path.join(out, 'KVER'), 'w') as f:
                f.write(kver + '\n')
            os.rename(out, cur)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        log('kernel %s cached' % kver)
        return os.path.join(cur, 'vmlinuz'), os.path.join(cur, 'modules'), kver


def _module_order(moddir):
    """Module paths (relative to moddir) in a valid load order."""
    deps, by_name = {}, {}
    with open(os.path.join(moddir, 'modules.dep')) as f:
        for line in f:
            mod, _, rest = line.partition(':')
            deps[mod] = rest.split()
            name = os.path.basename(mod).split('.ko')[0].replace('-', '_')
            by_name[name] = mod
    order = []

    def visit(mod):
        if mod in order:
            return
        for d in deps.get(mod, []):
            visit(d)
        order.append(mod)
    for name in GUEST_MODULES:
        if name in by_name:
            visit(by_name[name])
    return order


# ---- initramfs -----------------------------------------------------------

def _ldd(binary):
    out = subprocess.run(['ldd', binary], capture_output=True, text=True).stdout
    libs = []
    for line in out.splitlines():
        m = re.search(r'(/\S+) \(0x', line)
        if m:
            libs.append(m.group(1))
    return libs


# Libraries qgad loads with dlopen (src/commands/udevlib.c), which ldd
# does not list: a guest has them as installed packages.
QGAD_DLOPENED = ('libudev.so.1',)


def _dlopened(names):
    out = subprocess.run(['ldconfig', '-p'], capture_output=True, text=True).stdout
    libs = []
    for name in names:
        m = re.search(r'^\s*%s \(libc6,x86-64\) => (\S+)' % re.escape(name), out, re.M)
        if m:
            libs.append(m.group(1))
    return libs


def _copy_with_libs(binary, dest_root, dest_path, extra=()):
    target = os.path.join(dest_root, dest_path.lstrip('/'))
    os.makedirs(os.path.dirname(target), exist_ok=True)
    shutil.copy(binary, target)
    for lib in _ldd(binary) + _dlopened(extra):
        t = os.path.join(dest_root, lib.lstrip('/'))
        if not os.path.exists(t):
            os.makedirs(os.path.dirname(t), exist_ok=True)
            shutil.copy(os.path.realpath(lib), t)


def build_initrd(out, qgad, moddir):
    """A gzip'd newc initramfs at out with busybox, the agents and /init.
    qgad: the agent under test (None to leave it out). qemu-ga is added when
    installed."""
    root = tempfile.mkdtemp(prefix='initrd-')
    try:
        for d in ('bin', 'sbin', 'usr/bin', 'usr/sbin', 'etc', 'proc', 'sys',
                  'dev', 'run', 'tmp', 'mnt/data', 'lib/modules', 'var'):
            os.makedirs(os.path.join(root, d), exist_ok=True)
        os.symlink('../run', os.path.join(root, 'var', 'run'))
        shutil.copy(BUSYBOX, os.path.join(root, 'bin', 'busybox'))
        os.symlink('busybox', os.path.join(root, 'bin', 'sh'))
        for name in os.listdir(moddir):
            shutil.copy(os.path.join(moddir, name),
                        os.path.join(root, 'lib', 'modules', name))
        if qgad:
            _copy_with_libs(qgad, root, '/usr/sbin/qgad', QGAD_DLOPENED)
        if is_debian_qemu_ga():
            _copy_with_libs(QEMU_GA, root, '/usr/sbin/qemu-ga')
        guest = os.path.join(HERE, 'guest')
        for name, dest, mode in (('init', 'init', 0o755),
                                 ('ctl.sh', 'etc/ctl.sh', 0o644),
                                 ('shutdown', 'sbin/shutdown', 0o755),
                                 ('chpasswd', 'usr/sbin/chpasswd', 0o755),
                                 ('os-release', 'etc/os-release', 0o644),
                                 ('passwd', 'etc/passwd', 0o644),
                                 ('group', 'etc/group', 0o644),
                                 ('shadow', 'etc/shadow', 0o600)):
            shutil.copy(os.path.join(guest, name), os.path.join(root, dest))
            os.chmod(os.path.join(root, dest), mode)
        files = subprocess.run(['find', '.', '-mindepth', '1'], cwd=root,
                               capture_output=True, check=True).stdout
        with open(out, 'wb') as f:
            cpio = subprocess.Popen(['cpio', '-o', '-H', 'newc', '--quiet',
                                     '-R', '0:0'], cwd=root,
                                    stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE)
            gz = subprocess.Popen(['gzip', '-1'], stdin=cpio.stdout, stdout=f)
            cpio.stdout.close()
            cpio.stdin.write(files)
            cpio.stdin.close()
            if cpio.wait() != 0 or gz.wait() != 0:
                raise RuntimeError('building the initramfs failed')
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return out


# ---- QMP -----------------------------------------------------------------

class QMP:
    """A QMP client that keeps the events it reads past."""

    def __init__(self, path, timeout=BOOT_TIMEOUT):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.sock.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
        self.sock.settimeout(timeout)
        self.buf = b''
        self.events = []
        self.greeting = self._read()
        self.cmd('qmp_capabilities')

    def _read(self, timeout=None):
        if timeout is not None:
            self.sock.settimeout(timeout)
        while b'\n' not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError('QMP closed')
            self.buf += chunk
        line, self.buf = self.buf.split(b'\n', 1)
        msg = json.loads(line)
        vlog('QMP <- %s' % line.decode().strip())
        return msg

    def cmd(self, name, **args):
        msg = {'execute': name}
        if args:
            msg['arguments'] = args
        vlog('QMP -> %s' % json.dumps(msg))
        self.sock.sendall(json.dumps(msg).encode() + b'\n')
        while True:
            r = self._read(30)
            if 'event' in r:
                self.events.append(r)
                continue
            if 'error' in r:
                raise RuntimeError('QMP %s: %s' % (name, r['error']))
            return r['return']

    def wait_event(self, pred, timeout, since=None):
        """The first event (kept or new) for which pred(event) holds and,
        with since (a time.time() value), that QEMU stamped at or after
        since; it and the events kept before it are dropped."""
        deadline = time.monotonic() + timeout
        while True:
            for i, ev in enumerate(self.events):
                ts = ev.get('timestamp', {})
                when = ts.get('seconds', 0) + ts.get('microseconds', 0) / 1e6
                if pred(ev) and (since is None or when >= since):
                    del self.events[:i + 1]
                    return ev
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError('no matching QMP event in %.0fs' % timeout)
            try:
                msg = self._read(left)
            except socket.timeout:
                continue
            if 'event' in msg:
                self.events.append(msg)

    def close(self):
        self.sock.close()


def port_event(port_id, is_open):
    return lambda ev: (ev['event'] == 'VSERPORT_CHANGE' and
                       ev['data']['id'] == port_id and
                       ev['data']['open'] == is_open)


# ---- the control shell ---------------------------------------------------

class Ctl:
    """The guest's control shell (guest/ctl.sh) on its own virtio-serial
    port: one command line in, its output and exit status back."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.sock.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
        self.buf = b''

    def run(self, line, timeout=30, check=True):
        vlog('ctl -> %s' % line)
        self.sock.settimeout(timeout)
        self.sock.sendall(line.encode() + b'\n')
        while True:
            m = re.search(rb'@@END (\d+)@@\n', self.buf)
            if m:
                out = self.buf[:m.start()].decode(errors='replace')
                self.buf = self.buf[m.end():]
                rc = int(m.group(1))
                vlog('ctl <- rc=%d %s' % (rc, out.strip()[:300]))
                if check and rc != 0:
                    raise RuntimeError('guest command failed (%d): %s\n%s' %
                                       (rc, line, out))
                return out if check else (rc, out)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError('control shell closed')
            self.buf += chunk

    def close(self):
        self.sock.close()


# ---- the VM --------------------------------------------------------------

_live = []
_cleanups = []


def on_cleanup(fn):
    """Run fn at exit or on SIGTERM/SIGINT, unless unregistered first."""
    _cleanups.append(fn)


def cancel_cleanup(fn):
    if fn in _cleanups:
        _cleanups.remove(fn)


@atexit.register
def _stop_all():
    for vm in list(_live):
        vm.stop()
    while _cleanups:
        _cleanups.pop()()


def die_with_parent():
    """preexec_fn: the child gets SIGKILL if the test process dies without
    cleaning up (SIGKILL, a crash), so no QEMU outlives its test."""
    import ctypes
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _on_signal(signo, frame):
    # Stop every QEMU (and daemon) we started, then leave at once: a
    # SystemExit could be swallowed by the test runner.
    try:
        _stop_all()
    finally:
        os._exit(128 + signo)


signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGINT, _on_signal)


class VM:
    """One QEMU guest. Ports (host unix sockets in self.dir):
    qga.sock  virtserialport org.qemu.guest_agent.0 (id qgaport0)
    ctl.sock  virtserialport org.qgatest.ctl        (id ctlport0)
    isa.sock  the guest's ttyS1 (isa-serial)
    qmp.sock  QMP; console.log is ttyS0."""

    def __init__(self, kernel, initrd, smp=1, disk=None, reboot=False,
                 extra=()):
        self.dir = tempfile.mkdtemp(prefix='qga-vm-')
        self.qga_sock = os.path.join(self.dir, 'qga.sock')
        self.isa_sock = os.path.join(self.dir, 'isa.sock')
        self.console = os.path.join(self.dir, 'console.log')
        self.proc = None
        self.qmp = None
        self.ctl = None
        self.agent = None
        self.exit_code = None
        sock = lambda n: os.path.join(self.dir, n)  # noqa: E731
        cmd = [QEMU, '-machine', 'q35', '-accel', 'tcg', '-cpu', 'max',
               '-m', '256', '-smp', str(smp), '-nodefaults',
               '-no-user-config', '-display', 'none',
               '-kernel', kernel, '-initrd', initrd,
               '-append', 'console=ttyS0 quiet panic=-1',
               '-serial', 'file:' + self.console,
               '-chardev', 'socket,id=isa0,path=%s,server=on,wait=off' %
               self.isa_sock,
               '-device', 'isa-serial,chardev=isa0',
               '-device', 'virtio-serial-pci,id=vser0',
               '-chardev', 'socket,id=qga0,path=%s,server=on,wait=off' %
               self.qga_sock,
               '-device', 'virtserialport,bus=vser0.0,nr=1,chardev=qga0,'
               'name=%s,id=qgaport0' % QGA_PORT,
               '-chardev', 'socket,id=ctl0,path=%s,server=on,wait=off' %
               sock('ctl.sock'),
               '-device', 'virtserialport,bus=vser0.0,nr=2,chardev=ctl0,'
               'name=%s,id=ctlport0' % CTL_PORT,
               '-qmp', 'unix:%s,server=on,wait=off' % sock('qmp.sock')]
        if not reboot:
            cmd.append('-no-reboot')
        if disk:
            cmd += ['-drive', 'file=%s,format=raw,if=none,id=disk0' % disk,
                    '-device', 'virtio-blk-pci,drive=disk0,serial=qgatest-disk']
        cmd += list(extra)
        self.cmdline = cmd
        vlog(' '.join(cmd))
        self.t_start = time.monotonic()
        self.qemu_log = open(sock('qemu.log'), 'wb')
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=self.qemu_log,
                                     stderr=subprocess.STDOUT,
                                     preexec_fn=die_with_parent)
        _live.append(self)
        try:
            self.qmp = QMP(sock('qmp.sock'))
            # Attach to the control port at once: QEMU holds what we send
            # until the guest's /init opens the port and answers.
            self.ctl = Ctl(sock('ctl.sock'))
            self.ctl.run('true', timeout=BOOT_TIMEOUT)
            self.boot_time = time.monotonic() - self.t_start
        except BaseException:
            self.dump()
            self.stop()
            raise

    # -- agent control --

    def start_agent(self, argv, port_id='qgaport0'):
        """Start the agent (argv in the guest) and, for virtio-serial, wait
        for it to open its port (VSERPORT_CHANGE open)."""
        t, since = time.monotonic(), time.time()
        self.ctl.run('agent_start ' + ' '.join(argv))
        self.agent = argv
        self.agent_port = port_id
        if port_id:
            self.qmp.wait_event(port_event(port_id, True), 30, since)
        return time.monotonic() - t

    def stop_agent(self, sig='TERM'):
        """Stop the agent and wait for it to exit (and close its
        virtio-serial port, if it has one)."""
        port_id = getattr(self, 'agent_port', None)
        since = time.time()
        out = self.ctl.run('agent_stop %s' % sig)
        self.agent = None
        if port_id:
            self.qmp.wait_event(port_event(port_id, False), 30, since)
        return out.strip()

    def agent_pid(self):
        return int(self.ctl.run('cat /run/agent.pid').strip())

    def agent_log(self):
        rc, out = self.ctl.run('cat /run/agent.log', check=False)
        return out

    def proc_stat(self, pid):
        """(utime+stime clock ticks, voluntary+involuntary ctxt switches)
        of a guest process."""
        out = self.ctl.run('cat /proc/%d/stat; grep ctxt /proc/%d/status' %
                           (pid, pid))
        stat = out.splitlines()[0]
        fields = stat[stat.rindex(')') + 2:].split()
        ticks = int(fields[11]) + int(fields[12])
        ctxt = sum(int(l.split()[1]) for l in out.splitlines()[1:])
        return ticks, ctxt

    # -- lifetime --

    def wait_exit(self, timeout):
        try:
            self.exit_code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.exit_code

    def dump(self, nbytes=3000):
        try:
            with open(self.console, 'rb') as f:
                data = f.read()[-nbytes:]
            print('---- guest console (last %d bytes) ----\n%s\n----' %
                  (nbytes, data.decode(errors='replace')), flush=True)
            with open(os.path.join(self.dir, 'qemu.log'), 'rb') as f:
                print('---- qemu log ----\n%s\n----' %
                      f.read()[-nbytes:].decode(errors='replace'), flush=True)
        except OSError:
            pass

    def stop(self):
        """Stop QEMU whatever state it is in; idempotent."""
        if self in _live:
            _live.remove(self)
        for c in (self.ctl, self.qmp):
            if c is not None:
                try:
                    c.close()
                except OSError:
                    pass
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()           # QEMU exits cleanly on SIGTERM
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None and self.exit_code is None:
            self.exit_code = self.proc.returncode
        self.qemu_log.close()
        if os.environ.get('QGA_VM_KEEP'):
            log('kept %s' % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


if __name__ == '__main__':
    # `python3 vmlib.py fetch-kernel`: warm the cache (setup.sh calls this).
    if sys.argv[1:] == ['fetch-kernel']:
        print(ensure_kernel())
    else:
        sys.exit('usage: vmlib.py fetch-kernel')
