"""libvirt as the real client: the test starts its own virtlogd and
libvirtd (no systemd needed), creates a transient TCG domain with the guest
agent channel, and runs virsh's agent commands first against qgad, then
against Debian's qemu-ga, in the same guest. Each test compares one virsh
command's (normalised) result between the two; a virsh command whose agent
commands qgad lacks (per guest-info, asked through libvirt) is skipped with
that reason. `virsh shutdown --mode agent` runs last, with qgad if it has
guest-shutdown, else with qemu-ga.

QGA_AGENT names the qgad binary (default build/qgad).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
from xml.sax.saxutils import escape

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vmlib  # noqa: E402
from vmlib import log  # noqa: E402

QGAD = os.path.abspath(os.environ.get('QGA_AGENT') or
                       os.path.join(vmlib.SRCDIR, 'build', 'qgad'))
URI = 'qemu:///system'
# A first start on a new machine probes every QEMU binary's capabilities
# before it answers (12 s measured on an idle machine with an empty
# /var/cache/libvirt/qemu; more under the test suite's load).
LIBVIRTD_START_S = 120
VPORT = '/dev/virtio-ports/' + vmlib.QGA_PORT
AGENTS = {
    'qgad': ['/usr/sbin/qgad', '-m', 'virtio-serial', '-p', VPORT, '-t',
             '/run'],
    'qemu-ga': ['/usr/sbin/qemu-ga', '-m', 'virtio-serial', '-p', VPORT,
                '-t', '/run'],
}

DOMAIN_XML = """<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>{dir}/vmlinuz</kernel>
    <initrd>{dir}/initrd.gz</initrd>
    <cmdline>console=ttyS0 quiet panic=-1</cmdline>
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>{qemu}</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='{dir}/disk.img'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <serial type='file'>
      <source path='{dir}/console.log'/>
      <target port='0'/>
    </serial>
    <channel type='unix'>
      <target type='virtio' name='org.qemu.guest_agent.0'/>
    </channel>
    <channel type='unix'>
      <source mode='bind' path='{dir}/ctl.sock'/>
      <target type='virtio' name='{ctl}'/>
    </channel>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
  </devices>
</domain>
"""


def virsh(*args, timeout=60):
    r = subprocess.run(['virsh', '-c', URI] + list(args), capture_output=True,
                       text=True, timeout=timeout)
    return r.returncode, r.stdout.strip(), r.stderr.strip()


def virsh_answers():
    """Whether a libvirtd serves URI; a call that times out is a no (a
    fresh one answers only once it has probed QEMU: LIBVIRTD_START_S)."""
    try:
        return virsh('version', timeout=10)[0] == 0
    except subprocess.TimeoutExpired:
        return False


def virsh_ok(*args, **kw):
    rc, out, err = virsh(*args, **kw)
    if rc != 0:
        raise RuntimeError('virsh %s: %s' % (' '.join(args), err))
    return out


def _qemu_pids_using(path):
    """PIDs of QEMU processes whose command line names path."""
    pids = []
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        try:
            with open('/proc/%s/cmdline' % d, 'rb') as f:
                argv = f.read().split(b'\0')
        except OSError:
            continue
        if argv and b'qemu-system' in argv[0] and \
                any(path.encode() in a for a in argv):
            pids.append(int(d))
    return pids


def kv_lines(text):
    """'key : value' lines (virsh guestinfo, guestvcpus) as a dict."""
    d = {}
    for line in text.splitlines():
        k, sep, v = line.partition(':')
        if sep:
            d[k.strip()] = v.strip()
    return d


def table(text):
    """A virsh table without its header rule, whitespace-normalised."""
    return [' '.join(l.split()) for l in text.splitlines()
            if l.strip() and not set(l.strip()) <= {'-'}]


# Each case: the agent commands it needs, and a function of the test that
# runs it and returns a normalised result to compare between agents.
def case_agent_command(t):
    return json.loads(virsh_ok('qemu-agent-command', t.dom,
                               '{"execute":"guest-ping"}'))


def case_guestinfo(t):
    return kv_lines(virsh_ok('guestinfo', t.dom, '--os', '--hostname'))


def case_guestinfo_timezone(t):
    return kv_lines(virsh_ok('guestinfo', t.dom, '--timezone'))


def case_guestinfo_all(t):
    """Everything guestinfo gathers; sizes that move with the disk's use
    are left out."""
    return {k: v for k, v in kv_lines(virsh_ok('guestinfo', t.dom)).items()
            if not k.endswith('bytes')}


def case_domfsinfo(t):
    return table(virsh_ok('domfsinfo', t.dom))


def case_domifaddr(t):
    return table(virsh_ok('domifaddr', t.dom, '--source', 'agent'))


def case_domtime(t):
    out = virsh_ok('domtime', t.dom)
    guest = int(out.split(':')[1])
    virsh_ok('domtime', t.dom, '--time', '978307200')     # 2001-01-01
    year = t.ctl.run('date -u +%Y').strip()
    virsh_ok('domtime', t.dom, '--now')
    back = int(virsh_ok('domtime', t.dom).split(':')[1])
    return {'close to host': abs(guest - time.time()) < 300,
            'set year': year,
            'reset close to host': abs(back - time.time()) < 60}


def case_set_user_password(t):
    t.ctl.run("sed -i 's/^qgatest:[^:]*:/qgatest:*:/' /etc/shadow")
    virsh_ok('set-user-password', t.dom, 'qgatest', 's3cret')
    field = t.ctl.run('grep ^qgatest: /etc/shadow').split(':')[1]
    return {'hashed': field.startswith('$')}


def case_domfsfreeze(t):
    t.ctl.run('rm -f /run/late.done')
    froze = virsh_ok('domfsfreeze', t.dom)
    # A writer blocks (uninterruptibly) while frozen: run it in the
    # background so the control shell stays usable.
    t.ctl.run('(echo x > /mnt/data/during-freeze; touch /run/late.done) '
              '3>&- &')
    time.sleep(0.5)
    rc, _ = t.ctl.run('test -e /run/late.done', check=False)
    thawed = virsh_ok('domfsthaw', t.dom)
    t.ctl.run('i=0; while [ ! -e /run/late.done ] && [ $i -lt 50 ]; do '
              'sleep 0.1; i=$((i+1)); done; test -e /run/late.done')
    return [froze, 'write blocked' if rc != 0 else 'write went through',
            thawed]


def case_guestvcpus(t):
    return kv_lines(virsh_ok('guestvcpus', t.dom))


CASES = {
    'qemu_agent_command': (('guest-ping',), case_agent_command),
    'guestinfo': (('guest-get-osinfo', 'guest-get-host-name'),
                  case_guestinfo),
    'guestinfo_timezone': (('guest-get-timezone',), case_guestinfo_timezone),
    'guestinfo_all': (('guest-get-users', 'guest-get-osinfo',
                       'guest-get-timezone', 'guest-get-host-name',
                       'guest-get-fsinfo', 'guest-get-disks',
                       'guest-network-get-interfaces'), case_guestinfo_all),
    'domfsinfo': (('guest-get-fsinfo',), case_domfsinfo),
    'domifaddr': (('guest-network-get-interfaces',), case_domifaddr),
    'domtime': (('guest-get-time', 'guest-set-time'), case_domtime),
    'set_user_password': (('guest-set-user-password',),
                          case_set_user_password),
    'domfsfreeze_thaw': (('guest-fsfreeze-freeze', 'guest-fsfreeze-thaw'),
                         case_domfsfreeze),
    'guestvcpus': (('guest-get-vcpus',), case_guestvcpus),
}


class Libvirt(unittest.TestCase):
    results = {}        # (agent, case) -> ('ok', value) or ('error', text)
    supported = {}      # agent -> enabled commands (guest-info via libvirt)
    daemons = []
    dom = None

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix='qga-lv-')
        os.chmod(cls.dir, 0o777)     # QEMU runs as libvirt-qemu
        cls.ctl = None
        vmlib.on_cleanup(cls._teardown)
        try:
            cls._start_daemons()
            cls._create_domain()
            for agent in ('qgad', 'qemu-ga'):
                cls._use_agent(agent)
                for name, (needs, fn) in CASES.items():
                    if not set(needs) <= cls.supported[agent]:
                        continue
                    try:
                        cls.results[(agent, name)] = ('ok', fn(cls))
                    except Exception as e:  # noqa: BLE001 (reported per case)
                        cls.results[(agent, name)] = ('error', str(e))
                    log('libvirt %s %s: %s' % (agent, name,
                                               cls.results[(agent, name)]))
        except BaseException:
            cls._teardown()
            raise

    @classmethod
    def _start_daemons(cls):
        for tool in ('virsh', 'libvirtd', 'virtlogd'):
            if not shutil.which(tool):
                vmlib.skip('libvirt is not installed (tests/vm/setup.sh '
                           '--libvirt)')
        # The system libvirtd is one per machine: never borrow (and later
        # stop under) someone else's, whose domains would be orphaned.
        if virsh_answers():
            vmlib.skip('a libvirtd that this test did not start is already '
                       'serving %s' % URI)
        for name in ('virtlogd', 'libvirtd'):
            logf = open(os.path.join(cls.dir, name + '.log'), 'wb')
            p = subprocess.Popen([shutil.which(name)], stdin=subprocess.DEVNULL,
                                 stdout=logf, stderr=subprocess.STDOUT,
                                 preexec_fn=vmlib.die_with_parent)
            cls.daemons.append((name, p, logf))
        deadline = time.monotonic() + LIBVIRTD_START_S
        while True:
            up = virsh_answers()
            for name, p, _ in cls.daemons:
                if p.poll() is not None:
                    with open(os.path.join(cls.dir, name + '.log')) as f:
                        why = f.read()[-500:]
                    vmlib.skip('could not start our own %s (is one already '
                               'running?): %s' % (name, why))
            if up:
                break
            if time.monotonic() > deadline:
                raise RuntimeError('libvirtd did not come up')
            time.sleep(0.2)

    @classmethod
    def _create_domain(cls):
        kernel, moddir, _ = vmlib.ensure_kernel()
        shutil.copy(kernel, os.path.join(cls.dir, 'vmlinuz'))
        vmlib.build_initrd(os.path.join(cls.dir, 'initrd.gz'), QGAD, moddir)
        disk = os.path.join(cls.dir, 'disk.img')
        with open(disk, 'wb') as f:
            f.truncate(32 << 20)
        subprocess.run(['mkfs.ext4', '-q', '-F', disk], check=True,
                       capture_output=True)
        cls.dom = 'qgatest-%d' % os.getpid()
        xml = os.path.join(cls.dir, 'domain.xml')
        with open(xml, 'w') as f:
            f.write(DOMAIN_XML.format(name=cls.dom, dir=escape(cls.dir),
                                      qemu=vmlib.QEMU, ctl=vmlib.CTL_PORT))
        t = time.monotonic()
        virsh_ok('create', xml, timeout=vmlib.BOOT_TIMEOUT)
        cls.ctl = vmlib.Ctl(os.path.join(cls.dir, 'ctl.sock'))
        cls.ctl.run('true', timeout=vmlib.BOOT_TIMEOUT)
        log('libvirt domain %s up in %.2fs' % (cls.dom, time.monotonic() - t))

    @classmethod
    def _use_agent(cls, agent):
        cls.ctl.run('agent_stop KILL')
        cls.ctl.run('agent_start ' + ' '.join(AGENTS[agent]))
        # libvirt marks the agent connected on VSERPORT_CHANGE; wait for
        # it to answer through libvirt.
        t = time.monotonic()
        deadline = t + 60
        while True:
            rc, out, err = virsh('qemu-agent-command', cls.dom,
                                 '{"execute":"guest-info"}')
            if rc == 0:
                break
            if time.monotonic() > deadline:
                raise RuntimeError('agent %s not reachable via libvirt: %s' %
                                   (agent, err))
            time.sleep(0.2)
        info = json.loads(out)['return']
        cls.supported[agent] = {c['name'] for c in info['supported_commands']
                                if c['enabled']}
        log('libvirt: %s %s answering after %.2fs' %
            (agent, info['version'], time.monotonic() - t))

    @classmethod
    def _teardown(cls):
        vmlib.cancel_cleanup(cls._teardown)
        if cls.ctl:
            cls.ctl.close()
        if cls.dom:
            virsh('destroy', cls.dom)
            cls.dom = None
        for name, p, logf in reversed(cls.daemons):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            logf.close()
        cls.daemons = []
        # A QEMU that libvirt started but could not destroy (libvirtd hung
        # or already gone) would outlive libvirtd: find it by our directory.
        for pid in _qemu_pids_using(cls.dir):
            log('killing leftover QEMU %d of this test' % pid)
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        if os.environ.get('QGA_VM_KEEP'):
            log('kept %s' % cls.dir)
        else:
            shutil.rmtree(cls.dir, ignore_errors=True)

    @classmethod
    def tearDownClass(cls):
        cls._teardown()

    def compare(self, name):
        needs, _ = CASES[name]
        ref = self.results.get(('qemu-ga', name))
        self.assertIsNotNone(ref, 'qemu-ga lacks %s' % (needs,))
        self.assertEqual(ref[0], 'ok', 'qemu-ga: %s' % ref[1])
        missing = set(needs) - self.supported['qgad']
        if missing:
            self.skipTest('qgad does not implement %s yet' %
                          ', '.join(sorted(missing)))
        self.assertEqual(self.results[('qgad', name)], ref)

    def test_qemu_agent_command(self):
        self.compare('qemu_agent_command')

    def test_guestinfo(self):
        self.compare('guestinfo')

    def test_guestinfo_timezone(self):
        self.compare('guestinfo_timezone')

    def test_guestinfo_all(self):
        self.compare('guestinfo_all')

    def test_domfsinfo(self):
        self.compare('domfsinfo')

    def test_domifaddr(self):
        self.compare('domifaddr')

    def test_domtime(self):
        self.compare('domtime')

    def test_set_user_password(self):
        self.compare('set_user_password')

    def test_domfsfreeze_thaw(self):
        self.compare('domfsfreeze_thaw')

    def test_guestvcpus(self):
        self.compare('guestvcpus')

    def test_zz_shutdown_mode_agent(self):
        """Last: it ends the domain."""
        agent = 'qgad' if 'guest-shutdown' in self.supported['qgad'] \
            else 'qemu-ga'
        self._use_agent(agent)
        t = time.monotonic()
        virsh_ok('shutdown', self.dom, '--mode', 'agent')
        while True:
            rc, out, _ = virsh('domstate', self.dom)
            if rc != 0 or out == 'shut off':
                break       # a transient domain is gone once shut off
            self.assertLess(time.monotonic() - t, 60, 'still ' + out)
            time.sleep(0.2)
        log('libvirt: shutdown --mode agent with %s: off after %.2fs' %
            (agent, time.monotonic() - t))
        type(self).dom = None
        if agent != 'qgad':
            self.skipTest('qgad does not implement guest-shutdown yet '
                          '(checked with qemu-ga)')


def main():
    vmlib.check_host()
    if not os.access(QGAD, os.X_OK):
        vmlib.skip('qgad %s is not built' % QGAD)
    if not vmlib.is_debian_qemu_ga():
        vmlib.skip('Debian\'s qemu-ga (the reference) is not installed at '
                   '%s' % vmlib.QEMU_GA)
    t = time.monotonic()
    prog = unittest.main(exit=False, verbosity=2)
    log('libvirt suite: %.1fs' % (time.monotonic() - t))
    sys.exit(0 if prog.result.wasSuccessful() else 1)


if __name__ == '__main__':
    main()
