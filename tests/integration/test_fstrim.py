"""guest-fstrim: one result per local filesystem (the guest-get-fsinfo
list), members path/trimmed/minimum/error with qemu-ga's rules, and the
results on a loop-mounted ext4 the test makes itself. Every call trims
the whole machine's filesystems too, so the calls are few and slow ones
are allowed."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
import fstest  # noqa: E402
from qgatest import SRCDIR, AgentTest, is_qemu_ga, main  # noqa: E402

TRIM_TIMEOUT = 240
with open(os.path.join(SRCDIR, 'schema', 'qga.json')) as f:
    RESULT = json.load(f)['structs']['GuestFilesystemTrimResult']
with open(os.path.join(SRCDIR, 'tests', 'compat-allowlist-fs.json')) as f:
    ALLOW = json.load(f)['guest-fstrim']


class FsTrim(fstest.LoopFsTest, AgentTest):
    @classmethod
    def prepare_fs(cls):
        cls.bind = cls.fs.bind('bind-dir', 'sub')

    def trim(self, args=None):
        self.c.request('guest-fstrim', args)
        r = self.c.reply(TRIM_TIMEOUT)
        self.assertIn('return', r, r)
        self.assertEqual(set(r['return']), {'paths'})
        paths = r['return']['paths']
        for p in paths:
            self.assertIsInstance(p['path'], str)
            self.assertLessEqual(set(p), {k.lstrip('*') for k in RESULT}, p)
            if 'error' in p:
                self.assertEqual(set(p), {'path', 'error'}, p)
                self.assertIsInstance(p['error'], str)
                self.assertTrue(p['error'] == 'trim not supported' or
                                p['error'].startswith('failed to trim: ') or
                                p['error'].startswith('failed to open: '), p)
            else:
                self.assertEqual(set(p), {'path', 'trimmed', 'minimum'}, p)
                self.assertIs(type(p['trimmed']), int)
                self.assertIs(type(p['minimum']), int)
                self.assertGreaterEqual(p['trimmed'], 0)
        return paths

    def own(self, paths):
        mine = [p for p in paths if p['path'] == self.fs.mnt]
        self.assertEqual(len(mine), 1, paths)
        return mine[0]

    def test_default_minimum(self):
        # Same list, same order as guest-get-fsinfo (reverse mount order).
        # Other tests on this machine mount and unmount meanwhile: compare
        # the filesystems mounted both before and after the trim.
        before = [e['mountpoint'] for e in self.c.ok('guest-get-fsinfo')]
        paths = self.trim()
        fsinfo = [e['mountpoint'] for e in self.c.ok('guest-get-fsinfo')]
        stable = set(before) & set(fsinfo)
        self.assertIn(self.fs.mnt, stable)
        self.assertIn('/', stable)
        self.assertEqual([p['path'] for p in paths if p['path'] in stable],
                         [m for m in fsinfo if m in stable])
        mine = self.own(paths)
        self.assertNotIn('error', mine)
        self.assertEqual(mine['minimum'], 0)
        if is_qemu_ga():
            self.assertIn('extra-paths-in-qemu-ga', ALLOW)
            self.assertIn(self.bind, fsinfo)
        else:
            self.assertNotIn(self.bind, fsinfo)

    def test_minimum_passed_to_the_kernel(self):
        # ext4 refuses a minimum larger than a block group with EINVAL;
        # a negative one is passed on as a huge unsigned value.
        paths = self.trim({'minimum': 65536})
        self.assertEqual(self.own(paths)['minimum'], 65536)
        paths = self.trim({'minimum': -1})
        self.assertEqual(self.own(paths),
                         {'path': self.fs.mnt,
                          'error': 'failed to trim: Invalid argument'})

    def test_bad_minimum(self):
        r = self.c.cmd('guest-fstrim', {'minimum': 'x'})
        self.assertError(r, 'GenericError')


if __name__ == '__main__':
    main()
