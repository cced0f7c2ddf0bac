"""guest-ssh-get/add/remove-authorized-keys for a user this test creates
and removes. Runs against qgad and qemu-ga (qga-spec.md §2.3 "guest-ssh-*").
Needs root (useradd); skips otherwise."""
import os
import pwd
import stat
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
from qgatest import main  # noqa: E402
from qgaaction import ActionTest, shadow_tool  # noqa: E402

K1 = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKey1 one@host'
K2 = 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQKey2 two@host'
K3 = 'ecdsa-sha2-nistp256 AAAAE2VjZHNhKey3 three'



@unittest.skipUnless(os.geteuid() == 0, 'needs root to create a user')
class SshTest(ActionTest):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.user = 'qgassh%d' % os.getpid()
        shadow_tool('useradd', '-m', '-s', '/bin/sh', cls.user)
        cls.pw = pwd.getpwnam(cls.user)
        cls.ssh = os.path.join(cls.pw.pw_dir, '.ssh')
        cls.keys = os.path.join(cls.ssh, 'authorized_keys')

    @classmethod
    def tearDownClass(cls):
        shadow_tool('userdel', '-r', '-f', cls.user)
        super().tearDownClass()

    def setUp(self):
        subprocess.run(['rm', '-rf', self.ssh], check=True)

    def add(self, keys, reset=None):
        args = {'username': self.user, 'keys': keys}
        if reset is not None:
            args['reset'] = reset
        self.assertEqual(self.c.ok('guest-ssh-add-authorized-keys', args), {})

    def remove(self, keys):
        self.assertEqual(self.c.ok('guest-ssh-remove-authorized-keys',
                                   {'username': self.user, 'keys': keys}), {})

    def get(self):
        return self.c.ok('guest-ssh-get-authorized-keys', {'username': self.user})['keys']

    def contents(self):
        with open(self.keys) as f:
            return f.read()

    def set_contents(self, text):
        os.makedirs(self.ssh, exist_ok=True)
        with open(self.keys, 'w') as f:
            f.write(text)

    def assertOwned(self, path, mode):
        st = os.stat(path)
        self.assertEqual((st.st_uid, st.st_gid), (self.pw.pw_uid, self.pw.pw_gid), path)
        self.assertEqual(stat.S_IMODE(st.st_mode), mode, path)

    def test_add_creates_dir_and_file(self):
        self.add([K1, K2])
        self.assertOwned(self.ssh, 0o700)
        self.assertOwned(self.keys, 0o600)
        # Joined with newlines, no final newline.
        self.assertEqual(self.contents(), K1 + '\n' + K2)
        self.assertEqual(self.get(), [K2, K1])

    def test_add_appends_without_duplicates(self):
        self.add([K1])
        self.add([K2, K1, K2])
        self.assertEqual(self.contents(), K1 + '\n' + K2)

    def test_add_keeps_existing_lines(self):
        self.set_contents('# comment\n' + K1 + '\n')
        os.chmod(self.keys, 0o644)
        self.add([K2])
        # The file's final newline was an empty line; it stays one.
        self.assertEqual(self.contents(), '# comment\n' + K1 + '\n\n' + K2)
        self.assertOwned(self.keys, 0o600)

    def test_add_reset(self):
        self.add([K1, K2])
        self.add([K3], reset=True)
        self.assertEqual(self.contents(), K3)
        self.add([], reset=True)
        self.assertEqual(self.contents(), '')
        self.assertEqual(self.get(), [])

    def test_remove(self):
        self.set_contents(K1 + '\n' + K1 + '\n# a commented line\n' + K2 + '\n')
        self.remove([K3])
        self.assertEqual(self.contents(), K1 + '\n' + K1 + '\n# a commented line\n' + K2 + '\n')
        self.remove([K1, K3])
        self.assertEqual(self.contents(), '# a commented line\n' + K2 + '\n')
        self.assertOwned(self.keys, 0o600)
        # Only exact lines match.
        self.remove([K2 + ' '])
        self.assertEqual(self.get(), [K2])

    def test_remove_missing_file_is_ok(self):
        self.remove([K1])
        self.assertFalse(os.path.exists(self.keys))

    def test_get_strips_and_skips(self):
        self.set_contents('  ' + K1 + '  \n\n# comment\n\t' + K2 + '\r\n   \n' + K3)
        self.assertEqual(self.get(), [K3, K2, K1])

    def test_get_missing_file(self):
        r = self.c.cmd('guest-ssh-get-authorized-keys', {'username': self.user})
        self.assertError(r, desc="failed to read '%s': Failed to open file \u201c%s\u201d: "
                         'No such file or directory' % (self.keys, self.keys))

    def test_invalid_keys(self):
        for bad in ('# comment', 'ssh-rsa AAAA\nssh-rsa BBBB', '#'):
            for cmd in ('guest-ssh-add-authorized-keys', 'guest-ssh-remove-authorized-keys'):
                r = self.c.cmd(cmd, {'username': self.user, 'keys': [K1, bad]})
                self.assertError(r, desc="invalid OpenSSH public key: '%s'" % bad)
                # Keys are checked before the user is looked up.
                r = self.c.cmd(cmd, {'username': 'qga-no-such-user', 'keys': [bad]})
                self.assertError(r, desc="invalid OpenSSH public key: '%s'" % bad)
        self.assertFalse(os.path.exists(self.ssh))

    def test_unknown_user(self):
        for cmd, extra in (('guest-ssh-get-authorized-keys', {}),
                           ('guest-ssh-add-authorized-keys', {'keys': [K1]}),
                           ('guest-ssh-remove-authorized-keys', {'keys': [K1]})):
            r = self.c.cmd(cmd, dict(extra, username='qga-no-such-user'))
            self.assertError(r, desc="failed to lookup user 'qga-no-such-user': Success")

    def test_existing_ssh_dir_is_kept(self):
        os.makedirs(self.ssh)
        os.chmod(self.ssh, 0o755)
        self.add([K1])
        self.assertEqual(stat.S_IMODE(os.stat(self.ssh).st_mode), 0o755)
        self.assertOwned(self.keys, 0o600)


if __name__ == '__main__':
    main()
