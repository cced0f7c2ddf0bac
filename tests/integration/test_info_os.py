"""guest-get-osinfo, guest-get-host-name, guest-get-users, guest-get-load:
schema conformance and values against the machine (uname, os-release,
gethostname, utmp via `who`, /proc/loadavg)."""
import os
import socket
import struct
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
from qgatest import Agent, is_qemu_ga, main, require_qgad  # noqa: E402
from infoagent import InfoAgentTest, connect  # noqa: E402
from schemacheck import check, check_return  # noqa: E402

DATA = os.path.join(os.path.dirname(__file__), '..', 'data')
OS_KEYS = [('ID', 'id'), ('NAME', 'name'), ('PRETTY_NAME', 'pretty-name'),
           ('VERSION', 'version'), ('VERSION_ID', 'version-id'),
           ('VARIANT', 'variant'), ('VARIANT_ID', 'variant-id')]


def os_release_reference(text):
    """The os-release members qemu-ga derives from text (qga-spec.md 2.3:
    only double-quoted values are unescaped; others end at ' ' or ';')."""
    raw = {}
    for line in text.split('\n'):
        line = line.rstrip('\r').lstrip(' \t')
        if not line or line.startswith('#'):
            continue
        key, _, val = line.partition('=')
        raw[key.rstrip(' \t')] = val.lstrip(' \t')
    out = {}
    for key, member in OS_KEYS:
        if key not in raw:
            continue
        v = raw[key]
        if not v.startswith('"'):
            v = v.split(' ')[0].split(';')[0]
        else:
            res, i = '', 1
            while i < len(v) and v[i] != '"':
                if v[i] == '\\' and i + 1 < len(v) and v[i + 1] in '$\'"\\`':
                    i += 1
                res += v[i]
                i += 1
            v = res
        out[member] = v
    return out


class SchemaCheckSelfTest(unittest.TestCase):
    """The checker every info test relies on must catch bad replies."""

    def test_catches_problems(self):
        self.assertEqual(check({'host-name': 'x'}, 'GuestHostName'), [])
        self.assertTrue(check({}, 'GuestHostName'))
        self.assertTrue(check({'host-name': 1}, 'GuestHostName'))
        self.assertTrue(check({'host-name': 'x', 'extra': 1}, 'GuestHostName'))
        self.assertTrue(check({'id': None}, 'GuestOSInfo'))
        self.assertTrue(check([{'logical-id': 0, 'online': 1}],
                              '[GuestLogicalProcessor]'))
        self.assertTrue(check({'size': -1}, 'GuestMemoryBlockInfo'))
        self.assertTrue(check({'ip-address': '::1', 'ip-address-type': 'ip6',
                               'prefix': 128}, 'GuestIpAddress'))
        self.assertTrue(check([{'type': 'linux', 'cpu': 0, 'user': True,
                                'nice': 0, 'system': 0, 'idle': 0}],
                              '[GuestCpuStats]'))


class HostInfo(InfoAgentTest):
    def test_osinfo_matches_system(self):
        info = self.c.ok('guest-get-osinfo')
        check_return(self, 'guest-get-osinfo', info)
        u = os.uname()
        self.assertEqual(info['kernel-release'], u.release)
        self.assertEqual(info['kernel-version'], u.version)
        self.assertEqual(info['machine'], u.machine)
        for path in ('/etc/os-release', '/usr/lib/os-release'):
            if os.path.exists(path):
                with open(path) as f:
                    want = os_release_reference(f.read())
                break
        else:
            want = {}
        got = {k: v for k, v in info.items()
               if k not in ('kernel-release', 'kernel-version', 'machine')}
        self.assertEqual(got, want)

    def test_host_name(self):
        r = self.c.ok('guest-get-host-name')
        check_return(self, 'guest-get-host-name', r)
        self.assertEqual(r['host-name'], socket.gethostname())

    def test_users_match_utmp(self):
        users = self.c.ok('guest-get-users')
        check_return(self, 'guest-get-users', users)
        who = subprocess.run(['who'], capture_output=True, text=True).stdout
        want = sorted({line.split()[0] for line in who.splitlines() if line})
        self.assertEqual(sorted(u['user'] for u in users), want)
        self.assertEqual(len(users), len(want), 'users are deduplicated')

    def test_load_matches_proc(self):
        def read():
            with open('/proc/loadavg') as f:
                return [float(x) for x in f.read().split()[:3]]
        if is_qemu_ga() and 'guest-get-load' not in self.supported():
            self.skipTest('guest-get-load is newer than this qemu-ga')
        before = read()
        r = self.c.ok('guest-get-load')
        after = read()
        check_return(self, 'guest-get-load', r)
        got = [r['load1m'], r['load5m'], r['load15m']]
        for g, b, a in zip(got, before, after):
            self.assertGreaterEqual(g, min(b, a) - 0.01)
            self.assertLessEqual(g, max(b, a) + 0.01)

    def test_no_arguments_accepted(self):
        r = self.c.cmd('guest-get-host-name', {'x': 1})
        self.assertError(r, desc="Parameter 'x' is unexpected")

    def supported(self):
        return {c['name'] for c in self.c.ok('guest-info')['supported_commands']}

    def test_guest_info_lists_info_commands(self):
        cmds = {c['name']: c for c in
                self.c.ok('guest-info')['supported_commands']}
        for name in ('guest-get-osinfo', 'guest-get-host-name',
                     'guest-get-users', 'guest-get-vcpus', 'guest-set-vcpus',
                     'guest-get-memory-blocks', 'guest-set-memory-blocks',
                     'guest-get-memory-block-info',
                     'guest-network-get-interfaces', 'guest-get-disks',
                     'guest-get-diskstats', 'guest-get-cpustats'):
            self.assertIn(name, cmds)
            self.assertTrue(cmds[name]['enabled'], name)
            self.assertTrue(cmds[name]['success-response'], name)
        if not is_qemu_ga():
            for name in ('guest-get-load', 'guest-network-get-route'):
                self.assertTrue(cmds[name]['enabled'], name)
            self.assertNotIn('guest-get-devices', cmds)


USER_PROCESS, LOGIN_PROCESS, DEAD_PROCESS = 7, 6, 8


def utmp_record(kind, user, sec, usec, line='pts/0'):
    """One glibc x86-64 struct utmp (384 bytes)."""
    return struct.pack('<hxxi32s4s32s256shhiii16s20x', kind, 1234,
                       line.encode(), b'ts/0', user.encode(), b'host', 0, 0,
                       0, sec, usec, b'')


@require_qgad
class FakeUtmp(unittest.TestCase):
    """Users from a utmp file named by QGA_UTMP_FILE (qgad's test seam)."""

    def test_dedup_and_earliest_login(self):
        self.assertEqual(len(utmp_record(USER_PROCESS, 'x', 0, 0)), 384)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, 'utmp')
            with open(path, 'wb') as f:
                f.write(utmp_record(USER_PROCESS, 'alice', 1700000100, 500000))
                f.write(utmp_record(LOGIN_PROCESS, 'LOGIN', 1700000000, 0))
                f.write(utmp_record(USER_PROCESS, 'bob', 1700000200, 0))
                f.write(utmp_record(USER_PROCESS, 'alice', 1700000050, 250000,
                                    'pts/1'))
                f.write(utmp_record(DEAD_PROCESS, 'carol', 1700000000, 0))
                f.write(utmp_record(USER_PROCESS, 'a' * 32, 1700000300, 0))
            with Agent(env={'QGA_UTMP_FILE': path}) as a:
                c = connect(a)
                users = c.ok('guest-get-users')
                c.close()
        check_return(self, 'guest-get-users', users)
        self.assertEqual(users, [
            {'user': 'alice', 'login-time': 1700000050.25},
            {'user': 'bob', 'login-time': 1700000200.0},
            {'user': 'a' * 32, 'login-time': 1700000300.0}])


class OsReleaseFile(unittest.TestCase):
    """QGA_OS_RELEASE names the file; quoting and escapes as qemu-ga."""

    def osinfo(self, text=None, path=None):
        with tempfile.TemporaryDirectory() as d:
            if path is None:
                path = os.path.join(d, 'os-release')
                with open(path, 'wb') as f:
                    f.write(text.encode() if isinstance(text, str) else text)
            with Agent(env={'QGA_OS_RELEASE': path}) as a:
                c = connect(a)
                info = c.ok('guest-get-osinfo')
                c.close()
        check_return(self, 'guest-get-osinfo', info)
        return {k: v for k, v in info.items()
                if k not in ('kernel-release', 'kernel-version', 'machine')}

    def test_upstream_test_data(self):
        self.assertEqual(self.osinfo(path=os.path.join(DATA, 'test-os-release')), {
            'id': 'qemu-ga-test',
            'name': 'QEMU-GA',
            'pretty-name': 'QEMU Guest Agent test',
            'version': 'Test 1',
            'version-id': '1',
            'variant': 'Unit test "\'$`\\ and \\\\ etc.',
            'variant-id': 'unit-test',
        })

    def test_unquoted_single_quoted_and_comments(self):
        text = ('# a comment\n\n'
                'ID=plain;rest\n'
                'NAME=two words\n'
                "PRETTY_NAME='single quoted'\n"
                'VERSION = "spaced key"\n'
                'VERSION_ID="a\\nb\\"c"\n'
                'OTHER=ignored\n')
        want = {'id': 'plain', 'name': 'two', 'pretty-name': "'single",
                'version': 'spaced key', 'version-id': 'a\\nb"c'}
        self.assertEqual(os_release_reference(text), want)
        self.assertEqual(self.osinfo(text), want)

    def test_later_key_wins(self):
        self.assertEqual(self.osinfo('ID=one\nID=two\n'), {'id': 'two'})

    def test_missing_file_gives_kernel_fields_only(self):
        self.assertEqual(self.osinfo(path='/nonexistent/os-release'), {})

    def test_line_without_equals_invalidates_file(self):
        self.assertEqual(self.osinfo('ID=x\nthis is not a pair\n'), {})

    def test_not_utf8_is_ignored(self):
        self.assertEqual(self.osinfo(b'ID=\xff\xfe\n'), {})

    def test_empty_value(self):
        self.assertEqual(self.osinfo('ID=\nNAME=""\n'), {'id': '', 'name': ''})


if __name__ == '__main__':
    main()
