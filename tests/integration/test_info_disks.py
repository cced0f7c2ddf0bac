"""guest-get-disks and guest-get-diskstats: schema and values against
/sys/block, udev's uevent data and /proc/diskstats; diskstats formats and
the reply bound against a fake /proc (QGA_PROCFS_ROOT, qgad only)."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
from qgatest import AGENT, Agent, main, require_qgad  # noqa: E402
from infoagent import InfoAgentTest, connect  # noqa: E402
from schemacheck import check_return  # noqa: E402

LIBVIRT_MAX_REPLY = 10 * 1024 * 1024
PCI_DRIVERS = {'ata_piix', 'sym53c8xx', 'virtio-pci', 'ahci', 'nvme',
               'xhci_hcd', 'ehci-pci'}
COUNTERS = ['read-ios', 'read-merges', 'read-sectors', 'read-ticks',
            'write-ios', 'write-merges', 'write-sectors', 'write-ticks',
            'ios-pgr', 'total-ticks', 'weight-ticks', 'discard-ios',
            'discard-merges', 'discard-sectors', 'discard-ticks', 'flush-ios',
            'flush-ticks']


def devnode(syspath):
    with open(os.path.join(syspath, 'uevent')) as f:
        for line in f:
            if line.startswith('DEVNAME='):
                return '/dev/' + line.strip()[8:]
    return None


def pci_controller(real):
    """The PCI address of the first device on the path bound to a
    storage driver qemu-ga knows, or None."""
    m = re.search(r'/devices/pci[0-9a-f]+:[0-9a-f]+((?:/[0-9a-f]+:[0-9a-f]+:'
                  r'[0-9a-f]+\.[0-9a-f]+)+)', real)
    if not m:
        return None
    prefix = real[:m.start(1)]
    for comp in m.group(1).strip('/').split('/'):
        prefix += '/' + comp
        drv = os.path.join(prefix, 'driver')
        if os.path.islink(drv) and os.path.basename(os.readlink(drv)) in PCI_DRIVERS:
            d, b, sf = comp.split(':')
            s, f = sf.split('.')
            return {'domain': int(d, 16), 'bus': int(b, 16), 'slot': int(s, 16),
                    'function': int(f, 16)}
    return None


def expected_disks():
    out = []
    for name in os.listdir('/sys/block'):
        d = os.path.join('/sys/block', name)
        with open(os.path.join(d, 'size')) as f:
            if f.read() == '0\n':
                continue
        node = devnode(d)
        if node is None:
            continue
        out.append((node, False, d))
        for sub in os.listdir(d):
            rest = sub[len(name):]
            if (sub.startswith(name) and os.path.isdir(os.path.join(d, sub))
                    and not os.path.islink(os.path.join(d, sub))
                    and (rest[:1].isdigit() or
                         (rest[:1] == 'p' and rest[1:2].isdigit()))):
                out.append((devnode(os.path.join(d, sub)), True, node))
    return out[::-1]


class Disks(InfoAgentTest):
    def test_disks_match_sysfs(self):
        # Other tests on this machine attach loop devices: retry when the
        # set of disks changed while we looked.
        for _ in range(5):
            before = expected_disks()
            disks = self.c.ok('guest-get-disks')
            want = expected_disks()
            if before == want:
                break
        check_return(self, 'guest-get-disks', disks)
        self.assertEqual([(d['name'], d['partition']) for d in disks],
                         [(w[0], w[1]) for w in want])
        for d, w in zip(disks, want):
            if d['partition']:
                self.assertEqual(d['dependencies'], [w[2]])
                self.assertNotIn('address', d)
                continue
            sysdir = w[2]
            slaves = os.path.join(sysdir, 'slaves')
            if os.path.isdir(slaves):
                self.assertEqual(sorted(d['dependencies']),
                                 sorted(devnode(os.path.join(slaves, s))
                                        for s in os.listdir(slaves)))
            else:
                self.assertNotIn('dependencies', d)
            real = os.path.realpath(sysdir)
            if '/devices/virtual/block/' in real:
                self.assertNotIn('address', d, d['name'])
                continue
            self.assertIn('address', d, d['name'])
            addr = d['address']
            self.assertEqual(addr['dev'], d['name'])
            if 'serial' in addr:
                attr = os.path.join(sysdir, 'serial')
                udev = '/run/udev/data/b%s' % open(
                    os.path.join(sysdir, 'dev')).read().strip()
                known = []
                if os.path.exists(attr):
                    known.append(open(attr).read().strip())
                if os.path.exists(udev):
                    known += [l[len('E:ID_SERIAL='):].strip()
                              for l in open(udev)
                              if l.startswith('E:ID_SERIAL=')]
                self.assertIn(addr['serial'], known)
            pci = pci_controller(real)
            if pci is not None:
                self.assertEqual(addr['pci-controller'], pci)
                if re.search(r'/virtio\d+/block/', real):
                    self.assertEqual(addr['bus-type'], 'virtio')

    def test_diskstats_match_proc(self):
        def read():
            rows = []
            with open('/proc/diskstats') as f:
                for line in f:
                    p = line.split()
                    rows.append((p[2], int(p[0]), int(p[1]),
                                 [int(v) for v in p[3:]]))
            return rows
        before = read()
        stats = self.c.ok('guest-get-diskstats')
        after = read()
        check_return(self, 'guest-get-diskstats', stats)
        self.assertEqual([(s['name'], s['major'], s['minor']) for s in stats],
                         [r[:3] for r in after])
        for s, b, a in zip(stats, before, after):
            n = {14: 11, 18: 15, 20: 17}.get(len(a[3]) + 3, len(s['stats']))
            if len(a[3]) != 4:
                self.assertEqual(set(s['stats']), set(COUNTERS[:n]))
            for i, key in enumerate(COUNTERS[:n]):
                if key == 'ios-pgr':
                    continue
                self.assertGreaterEqual(s['stats'][key], b[3][i], key)
                self.assertLessEqual(s['stats'][key], a[3][i], key)


def run_with_proc(files, command):
    with tempfile.TemporaryDirectory() as root:
        for name, text in files.items():
            path = os.path.join(root, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, 'w') as f:
                f.write(text)
        with Agent('-v', env={'QGA_PROCFS_ROOT': root}) as a:
            c = connect(a)
            raw = None
            c.request(command)
            try:
                raw = c.line()
            except EOFError:
                raise AssertionError('EOF: rc=%r log=%s' % (a.proc.poll(), a.log_text()[-3000:]))
            c.close()
    return raw, json.loads(raw)


def maps(pid):
    with open('/proc/%d/maps' % pid) as f:
        return f.read()


@require_qgad
class LazyLibudev(unittest.TestCase):
    """qgad loads libudev when a command first needs it (udevlib.c), and
    runs without it."""

    def test_loaded_on_first_use(self):
        with Agent() as a:
            c = a.connect()
            self.assertEqual(c.cmd('guest-ping'), {'return': {}})
            self.assertNotIn('libudev', maps(a.proc.pid))
            c.ok('guest-get-disks')
            if 'libudev.so.1 ' in subprocess.run(['ldconfig', '-p'], capture_output=True,
                                                 text=True).stdout:
                self.assertIn('libudev.so.1', maps(a.proc.pid))
            c.close()

    def test_runs_without_libudev(self):
        """libudev.so.1 replaced by an empty file in a private mount
        namespace: disks come from udev, so none; fsinfo still answers."""
        out = subprocess.run(['ldconfig', '-p'], capture_output=True, text=True).stdout
        m = re.search(r'libudev\.so\.1 \(libc6,x86-64\) => (\S+)', out)
        if os.geteuid() != 0 or not shutil.which('unshare') or not m:
            self.skipTest('needs root, unshare and an installed libudev.so.1')
        lib = os.path.realpath(m.group(1))
        if subprocess.run(['unshare', '-m', 'true']).returncode != 0:
            self.skipTest('no mount namespaces here')
        with tempfile.TemporaryDirectory() as tmp:
            wrapper = os.path.join(tmp, 'qgad-without-udev')
            with open(wrapper, 'w') as f:
                f.write('#!/bin/sh\nexec unshare -m sh -c \'mount --bind /dev/null "$0" && '
                        'exec "$@"\' %s %s "$@"\n' % (lib, AGENT))
            os.chmod(wrapper, 0o755)
            with Agent(binary=wrapper) as a:
                c = a.connect()
                self.assertEqual(c.ok('guest-get-disks'), [])
                fs = c.ok('guest-get-fsinfo')
                check_return(self, 'guest-get-fsinfo', fs)
                self.assertNotIn('libudev', maps(a.proc.pid))
                self.assertEqual(c.cmd('guest-ping'), {'return': {}})
                c.close()


@require_qgad
class FakeDiskstats(unittest.TestCase):
    def test_field_counts(self):
        text = ('   8       0 sda 1 2 3 4 5 6 7 8 9 10 11\n'
                '   8       1 sda1 1 2 3 4\n'
                '   8      16 sdb 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15\n'
                '   8      32 sdc 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\n'
                ' 253       0 odd 1 2 3 4 5 6 7 8\n'
                'garbage\n')
        _, r = run_with_proc({'diskstats': text}, 'guest-get-diskstats')
        stats = r['return']
        check_return(self, 'guest-get-diskstats', stats)
        seq = list(range(1, 18))
        self.assertEqual(stats[0], {'name': 'sda', 'major': 8, 'minor': 0,
                                    'stats': dict(zip(COUNTERS[:11], seq))})
        self.assertEqual(stats[1]['stats'], {'read-ios': 1, 'read-sectors': 2,
                                             'write-ios': 3, 'write-sectors': 4})
        self.assertEqual(stats[2]['stats'], dict(zip(COUNTERS[:15], seq)))
        self.assertEqual(stats[3]['stats'], dict(zip(COUNTERS, seq)))
        self.assertEqual(stats[4], {'name': 'odd', 'major': 253, 'minor': 0,
                                    'stats': {}})
        self.assertEqual(len(stats), 5)

    def test_reply_stays_under_libvirt_limit(self):
        line = ' 259 %d nvme%dn1 ' + ' '.join(['18446744073'] * 17) + '\n'
        n = 40000
        text = ''.join(line % (i, i) for i in range(n))
        raw, r = run_with_proc({'diskstats': text}, 'guest-get-diskstats')
        self.assertLess(len(raw) + 1, LIBVIRT_MAX_REPLY)
        stats = r['return']
        self.assertGreater(len(stats), 1000)
        self.assertLess(len(stats), n, 'this input needs truncation')
        self.assertEqual([s['name'] for s in stats],
                         ['nvme%dn1' % i for i in range(len(stats))])


if __name__ == '__main__':
    main()
