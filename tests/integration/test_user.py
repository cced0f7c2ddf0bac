"""guest-set-user-password through the real chpasswd, for a user this
test creates and removes (qga-spec.md §2.3 "guest-set-user-password").
Runs against qgad and qemu-ga; needs root."""
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
from qgatest import b64, is_qemu_ga, main  # noqa: E402
from qgaaction import ActionTest, shadow_tool  # noqa: E402

CRYPTED = ('$6$abcdefgh$KQeXafAQAaOoKTevphVU215RvJdgzyfASRasIOuh12hO8u0r1bGW92'
           'ZnTmC9IjsiQ8VPiTXBiZF49dFL1U4wX/')  # "pw", SHA-512



def shadow_hash(user):
    with open('/etc/shadow') as f:
        for line in f:
            fields = line.split(':')
            if fields[0] == user:
                return fields[1]
    raise KeyError(user)


@unittest.skipUnless(os.geteuid() == 0 and os.path.exists('/usr/sbin/chpasswd'),
                     'needs root and chpasswd')
class PasswordTest(ActionTest):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.user = 'qgapw%d' % os.getpid()
        shadow_tool('useradd', '-M', '-s', '/usr/sbin/nologin', cls.user)

    @classmethod
    def tearDownClass(cls):
        shadow_tool('userdel', '-f', cls.user)
        super().tearDownClass()

    def set_password(self, password, crypted, user=None):
        return self.c.cmd('guest-set-user-password',
                          {'username': user or self.user, 'password': b64(password),
                           'crypted': crypted})

    def chpasswd_retry(self, password, crypted):
        # chpasswd itself may find /etc/shadow locked by a parallel test.
        for _ in range(20):
            r = self.set_password(password, crypted)
            if 'return' in r or 'lock' not in r['error']['desc']:
                return r
            time.sleep(0.3)
        return r

    def test_crypted(self):
        r = self.chpasswd_retry(CRYPTED.encode(), True)
        self.assertEqual(r, {'return': {}})
        self.assertEqual(shadow_hash(self.user), CRYPTED)

    def test_plain(self):
        r = self.chpasswd_retry(b'pw', False)
        self.assertEqual(r, {'return': {}})
        h = shadow_hash(self.user)
        self.assertTrue(h.startswith('$'), h)
        self.assertNotEqual(h, CRYPTED)
        salt = h[:h.rindex('$') + 1]
        out = subprocess.run(['openssl', 'passwd', '-6', '-salt', salt.split('$')[2], 'pw'],
                             stdout=subprocess.PIPE, check=True).stdout.decode().strip()
        if h.startswith('$6$'):
            self.assertEqual(h, out)

    def test_forbidden(self):
        self.assertError(self.set_password(b'a\nb', False),
                         desc='forbidden characters in raw password')
        self.assertError(self.set_password(b'x', False, user='a:b'),
                         desc='forbidden characters in username')
        self.assertError(self.set_password(b'x', False, user='a\nb'),
                         desc='forbidden characters in username')
        r = self.c.cmd('guest-set-user-password', {'username': self.user,
                                                   'password': '!!', 'crypted': False})
        self.assertError(r, desc='Base64 data contains invalid characters')

    def test_unknown_user(self):
        r = self.set_password(b'x', False, user='qga-no-such-user')
        if is_qemu_ga():
            # 7.2 has no chpasswd output in the text (qga-spec.md §2.3).
            self.assertError(r, desc='child process has failed to set user password')
        else:
            self.assertError(r, contains='child process has failed to set user password: ')
            self.assertIn('qga-no-such-user', r['error']['desc'])


if __name__ == '__main__':
    main()
