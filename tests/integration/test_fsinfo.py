"""guest-get-fsinfo: every member's name and JSON type, the values against
statvfs, /proc/self/mountinfo and sysfs, bind mounts, and (qgad run) a
comparison with the real qemu-ga's reply. Differences from qemu-ga 7.2
must be listed in tests/compat-allowlist-fs.json."""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
import fstest  # noqa: E402
from qgatest import SRCDIR, Agent, AgentTest, is_qemu_ga, main  # noqa: E402

with open(os.path.join(SRCDIR, 'schema', 'qga.json')) as f:
    SCHEMA = json.load(f)
with open(os.path.join(SRCDIR, 'tests', 'compat-allowlist-fs.json')) as f:
    ALLOW = json.load(f)['guest-get-fsinfo']
BUS_TYPES = SCHEMA['enums']['GuestDiskBusType']
FS_MEMBERS = SCHEMA['structs']['GuestFilesystemInfo']
DISK_MEMBERS = SCHEMA['structs']['GuestDiskAddress']
REPLY_MAX = 10 << 20
PSEUDO = {'proc', 'sysfs', 'tmpfs', 'devtmpfs', 'devpts', 'cgroup', 'cgroup2',
          'mqueue', 'debugfs', 'tracefs', 'securityfs', 'pstore', 'bpf',
          'autofs', 'fusectl', 'hugetlbfs', 'ramfs', 'nfs', 'nfs4', 'cifs',
          'smb3', 'overlay'}
REFERENCE = os.environ.get('QGA_REFERENCE_AGENT', '/usr/sbin/qemu-ga')
# Filesystems other than the test's own are live (other processes write to
# them): their usage may move this much between two samples.
USAGE_SLACK = 256 << 20


def required(members):
    return {k for k in members if not k.startswith('*')}


def allowed(members):
    return {k.lstrip('*') for k in members}


def expected_mounts():
    """Mount points in reply order: the list newest qemu-ga and qgad
    build; 7.2 keeps every mount of a device (qga-spec.md §7)."""
    if is_qemu_ga():
        out = [m for (maj, _, m, t, _s) in fstest.mountinfo()
               if maj != 0 or t == 'btrfs']
    else:
        out = [m for (_, _, m, _t) in fstest.local_filesystems()]
    return list(reversed(out))


def sys_name(major, minor):
    path = '/sys/dev/block/%d:%d' % (major, minor)
    if not os.path.exists(path):
        return '%d:%d' % (major, minor)
    return os.path.basename(os.path.realpath(path))


def fsinfo(conn):
    """The reply, after checking its raw size."""
    conn.request('guest-get-fsinfo')
    raw = conn.line(60)
    assert len(raw) < REPLY_MAX, len(raw)
    r = json.loads(raw)
    assert 'return' in r, r
    return r['return']


class FsInfo(fstest.LoopFsTest, AgentTest):
    @classmethod
    def prepare_fs(cls):
        cls.bind = cls.fs.bind('bind-dir', 'sub')
        cls.tmpfs = cls.fs.tmpfs('tmpfs')
        with open(os.path.join(cls.fs.mnt, 'data'), 'wb') as f:
            f.write(b'x' * (1 << 20))
        os.sync()

    def reply(self):
        return fsinfo(self.c)

    def own(self, reply):
        mine = [e for e in reply if e['mountpoint'] == self.fs.mnt]
        self.assertEqual(len(mine), 1, reply)
        return mine[0]

    def test_member_names_and_types(self):
        reply = self.reply()
        self.assertIsInstance(reply, list)
        self.assertGreater(len(reply), 0)
        for e in reply:
            keys = set(e)
            self.assertLessEqual(required(FS_MEMBERS), keys, e)
            self.assertLessEqual(keys, allowed(FS_MEMBERS), e)
            for k in ('name', 'mountpoint', 'type'):
                self.assertIsInstance(e[k], str, e)
            self.assertTrue(e['name'] and e['mountpoint'] and e['type'], e)
            for k in ('used-bytes', 'total-bytes', 'total-bytes-privileged'):
                if k in e:
                    self.assertIs(type(e[k]), int, e)
                    self.assertGreaterEqual(e[k], 0, e)
            # statvfs works on every listed filesystem: the sizes are there.
            self.assertIn('used-bytes', e)
            self.assertIn('total-bytes', e)
            if is_qemu_ga():
                self.assertIn('total-bytes-privileged',
                              ALLOW['members-absent-in-qemu-ga'])
            else:
                self.assertIn('total-bytes-privileged', e)
            self.assertIsInstance(e['disk'], list)
            for d in e['disk']:
                self.check_disk(d)

    def check_disk(self, d):
        keys = set(d)
        self.assertLessEqual(required(DISK_MEMBERS), keys, d)
        self.assertLessEqual(keys, allowed(DISK_MEMBERS), d)
        pci = d['pci-controller']
        self.assertEqual(set(pci), {'domain', 'bus', 'slot', 'function'})
        for v in pci.values():
            self.assertIs(type(v), int)
            self.assertGreaterEqual(v, -1)
        self.assertIn(d['bus-type'], BUS_TYPES)
        for k in ('bus', 'target', 'unit'):
            self.assertIs(type(d[k]), int, d)
        for k in ('serial', 'dev'):
            if k in d:
                self.assertIsInstance(d[k], str)
                self.assertTrue(d[k])
        if 'ccw-address' in d:
            self.assertEqual(set(d['ccw-address']),
                             {'cssid', 'ssid', 'subchno', 'devno'})

    def test_mount_points_match_mountinfo(self):
        # Retry: other processes on this machine mount and unmount too.
        for _ in range(5):
            before = expected_mounts()
            got = [e['mountpoint'] for e in self.reply()]
            if before == expected_mounts():
                break
        self.assertEqual(got, before)
        types = {m: t for (_, _, m, t, _s) in fstest.mountinfo()}
        for e in self.reply():
            if e['mountpoint'] in types:
                self.assertEqual(e['type'], types[e['mountpoint']])

    def test_names_from_sysfs(self):
        devs = {m: (ma, mi) for (ma, mi, m, _t) in fstest.local_filesystems()}
        for e in self.reply():
            if e['mountpoint'] in devs:
                self.assertEqual(e['name'], sys_name(*devs[e['mountpoint']]))

    def test_sizes_against_statvfs(self):
        live = {m for (_, _, m, _t) in fstest.local_filesystems()}
        for e in self.reply():
            if e['mountpoint'] not in live:
                continue  # unmounted meanwhile by another test
            st = os.statvfs(e['mountpoint'])
            used = (st.f_blocks - st.f_bfree) * st.f_frsize
            total = (st.f_blocks - st.f_bfree + st.f_bavail) * st.f_frsize
            slack = 0 if e['mountpoint'] == self.fs.mnt else USAGE_SLACK
            self.assertLessEqual(abs(e['used-bytes'] - used), slack, e)
            self.assertLessEqual(abs(e['total-bytes'] - total), slack, e)
            if 'total-bytes-privileged' in e:
                self.assertEqual(e['total-bytes-privileged'],
                                 st.f_blocks * st.f_frsize)
            self.assertLessEqual(e['used-bytes'], e['total-bytes'])

    def test_own_loop_filesystem(self):
        e = self.own(self.reply())
        self.assertEqual(e['type'], 'ext4')
        self.assertEqual(e['name'], sys_name(self.fs.major, self.fs.minor))
        self.assertTrue(e['name'].startswith('loop'), e)
        # A loop device is virtual and has no slaves: no disk address.
        self.assertEqual(e['disk'], [])
        self.assertGreaterEqual(e['used-bytes'], 1 << 20)

    def test_bind_mount(self):
        mps = [e['mountpoint'] for e in self.reply()]
        if is_qemu_ga():
            self.assertIn('extra-mountpoints-in-qemu-ga', ALLOW)
            self.assertIn(self.bind, mps)
        else:
            self.assertNotIn(self.bind, mps)
        self.assertIn(self.fs.mnt, mps)

    def test_pseudo_filesystems_skipped(self):
        reply = self.reply()
        self.assertNotIn(self.tmpfs, [e['mountpoint'] for e in reply])
        for e in reply:
            self.assertNotIn(e['type'], PSEUDO, e)

    def test_disk_addresses_against_sysfs(self):
        devs = {m: (ma, mi) for (ma, mi, m, _t) in fstest.local_filesystems()}
        for e in self.reply():
            for d in e['disk']:
                if 'dev' in d:
                    st = os.stat(d['dev'])
                    self.assertTrue(os.path.stat.S_ISBLK(st.st_mode))
                if d['pci-controller']['domain'] >= 0 and e['mountpoint'] in devs:
                    pci = d['pci-controller']
                    addr = '%04x:%02x:%02x.%x' % (pci['domain'], pci['bus'],
                                                 pci['slot'], pci['function'])
                    syspath = os.path.realpath('/sys/dev/block/%d:%d'
                                               % devs[e['mountpoint']])
                    if '/devices/virtual/' not in syspath:
                        self.assertIn('/' + addr + '/', syspath)
                if 'serial' in d and 'dev' in d:
                    attr = '/sys/class/block/%s/serial' % os.path.basename(d['dev'])
                    if os.path.exists(attr):
                        with open(attr) as f:
                            self.assertEqual(d['serial'], f.read().strip())

    def test_not_allowed_while_frozen_is_covered_elsewhere(self):
        # guest-get-fsinfo while frozen: test_fsfreeze.py. Here: it takes
        # no arguments.
        r = self.c.cmd('guest-get-fsinfo', {'x': 1})
        self.assertError(r, 'GenericError')


def reference_agent():
    path = os.path.realpath(REFERENCE)
    if is_qemu_ga() or not os.access(path, os.X_OK) or \
            not os.path.basename(path).startswith('qemu-ga'):
        return None
    return path


@unittest.skipUnless(reference_agent(), 'needs the real qemu-ga (%s) and qgad'
                     % REFERENCE)
class CompareWithQemuGa(unittest.TestCase):
    """qgad's reply against the real qemu-ga's, on the same machine."""

    def test_same_filesystems(self):
        fs = fstest.LoopFs()
        try:
            fs.bind('bind-dir', 'sub')
            with Agent() as a, Agent(binary=reference_agent()) as b:
                ca, cb = fstest.connect(a), fstest.connect(b)
                # Other tests on this machine mount too: take the two
                # replies while the mount table holds still.
                for _ in range(5):
                    ours, theirs = fsinfo(ca), fsinfo(cb)
                    again = fsinfo(ca)
                    if [e['mountpoint'] for e in again] == \
                            [e['mountpoint'] for e in ours]:
                        break
                ca.close()
                cb.close()
        finally:
            fs.close()
        mine = [e['mountpoint'] for e in ours]
        ref = [e['mountpoint'] for e in theirs]
        # 7.2 repeats devices; with those removed the lists are equal.
        extra = [m for m in ref if m not in mine]
        if extra:
            self.assertIn('extra-mountpoints-in-qemu-ga', ALLOW)
        self.assertEqual([m for m in ref if m in mine], mine)
        by_mp = {e['mountpoint']: e for e in theirs}
        absent = ALLOW['members-absent-in-qemu-ga']
        disk_only = ALLOW['disk-members-only-in-qgad']
        for e in ours:
            t = by_mp[e['mountpoint']]
            self.assertEqual(set(e) - set(t), set(absent) & set(e), e)
            self.assertEqual(set(t) - set(e), set())
            for k in ('name', 'type', 'mountpoint'):
                self.assertEqual(e[k], t[k])
            if 'total-bytes' in e:
                self.assertLessEqual(abs(e['total-bytes'] - t['total-bytes']),
                                     USAGE_SLACK)
            self.assertEqual(len(e['disk']), len(t['disk']))
            for d, td in zip(e['disk'], t['disk']):
                self.assertEqual(set(td) - set(d), set(), (d, td))
                self.assertLessEqual(set(d) - set(td), set(disk_only), (d, td))
                for k in td:
                    self.assertEqual(d[k], td[k], k)


if __name__ == '__main__':
    main()
