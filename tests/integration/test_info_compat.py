"""Every guest-information command against qgad and the real qemu-ga on the
same machine, in the same test: same members and JSON types everywhere,
and the same values wherever they are deterministic (host name, OS info,
interface names and addresses, vcpus, memory blocks, disks, device
numbers, users). Known differences come from tests/compat-allowlist.json,
each with its reason; an unlisted difference fails.

qgad: $QGA_QGAD, else $QGA_AGENT when it is qgad, else build/qgad.
qemu-ga: $QGA_QEMU_GA, else /usr/sbin/qemu-ga. Skipped when either is
missing."""
import json
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
import qgatest  # noqa: E402
from qgatest import Agent  # noqa: E402
from infoagent import connect  # noqa: E402
from schemacheck import check, returns_of  # noqa: E402

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ALLOWLIST = os.path.join(TESTS, 'compat-allowlist.json')


def find_qgad():
    cands = [os.environ.get('QGA_QGAD')]
    if not qgatest.is_qemu_ga():
        cands.append(qgatest.AGENT)
    cands += [os.path.join(qgatest.SRCDIR, 'build', 'qgad'),
              os.path.join(os.getcwd(), 'qgad')]
    for c in cands:
        if c and os.access(c, os.X_OK):
            return os.path.abspath(c)
    return None


QGAD = find_qgad()
QEMU_GA = os.environ.get('QGA_QEMU_GA', '/usr/sbin/qemu-ga')

# Per command: JSON paths (regular expressions) whose values change from
# one call to the next; only their type is compared there.
VOLATILE_PATHS = {
    'guest-network-get-interfaces': [r'\.statistics\.'],
    'guest-get-diskstats': [r'\.stats\.'],
    'guest-get-cpustats': [r'\]\.(?!type$|cpu$)[a-z]+$'],
    'guest-get-load': [r'\.load'],
}


def typename(v):
    if isinstance(v, bool):
        return 'bool'
    if isinstance(v, int):
        return 'int'
    if isinstance(v, float):
        return 'number'
    return type(v).__name__


def diff(a, b, volatile, path='$'):
    """[(path, description)] of the differences between a and b."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            p = '%s.%s' % (path, k)
            if k not in a:
                out.append((p, 'member only in qemu-ga'))
            elif k not in b:
                out.append((p, 'member only in qgad'))
            else:
                out += diff(a[k], b[k], volatile, p)
        return out
    if isinstance(a, list) and isinstance(b, list):
        out = []
        if len(a) != len(b):
            out.append((path, 'list of %d in qgad, %d in qemu-ga'
                        % (len(a), len(b))))
        for i, (x, y) in enumerate(zip(a, b)):
            out += diff(x, y, volatile, '%s[%d]' % (path, i))
        return out
    if typename(a) != typename(b) and not (
            typename(a) in ('int', 'number') and typename(b) in ('int', 'number')
            and any(re.search(v, path) for v in volatile)):
        return [(path, 'type %s in qgad, %s in qemu-ga'
                 % (typename(a), typename(b)))]
    if any(re.search(v, path) for v in volatile):
        return []
    if a != b:
        return [(path, 'qgad %r, qemu-ga %r' % (a, b))]
    return []


def setUpModule():
    if QGAD is None or not os.access(QEMU_GA, os.X_OK):
        raise unittest.SkipTest('needs both qgad and %s' % QEMU_GA)
    # A qgad package can divert /usr/sbin/qemu-ga to itself: comparing
    # qgad with qgad proves nothing.
    if os.path.basename(os.path.realpath(QEMU_GA)) != 'qemu-ga':
        raise unittest.SkipTest('%s is %s, not qemu-ga' %
                                (QEMU_GA, os.path.realpath(QEMU_GA)))


class Compat(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.qgad = Agent(binary=QGAD)
        cls.qga = Agent(binary=QEMU_GA)
        cls.a = connect(cls.qgad)
        cls.b = connect(cls.qga)
        cls.qga_version = cls.b.ok('guest-info')['version']
        with open(ALLOWLIST) as f:
            cls.allow = json.load(f)['differences']

    @classmethod
    def tearDownClass(cls):
        cls.a.close()
        cls.b.close()
        cls.qgad.stop()
        cls.qga.stop()

    def allowed(self, command, path):
        for e in self.allow:
            if (e['command'] == command and re.search(e['path'], path)
                    and self.qga_version.startswith(e['agent'])):
                self.assertTrue(e.get('reason'), e)
                return True
        return False

    def compare(self, command, args=None):
        # The machine may change between the two calls (other tests attach
        # loop devices, links come and go): a difference must persist.
        for _ in range(3):
            ra = self.a.cmd(command, args)
            rb = self.b.cmd(command, args)
            if 'return' not in ra or 'return' not in rb or not diff(
                    ra['return'], rb['return'], VOLATILE_PATHS.get(command, [])):
                break
        if 'error' in rb and rb['error']['class'] == 'CommandNotFound' \
                and 'return' in ra:
            self.assertTrue(self.allowed(command, '$'),
                            '%s missing from qemu-ga %s and not allowlisted'
                            % (command, self.qga_version))
            return ra['return'], None
        self.assertEqual(sorted(ra), sorted(rb), (command, ra, rb))
        if 'error' in ra:
            self.assertEqual(ra, rb)
            return None, None
        ret = returns_of(command)
        self.assertEqual(check(ra['return'], ret), [], 'qgad ' + command)
        self.assertEqual(check(rb['return'], ret), [], 'qemu-ga ' + command)
        diffs = [d for d in diff(ra['return'], rb['return'],
                                 VOLATILE_PATHS.get(command, []))
                 if not self.allowed(command, d[0])]
        self.assertEqual(diffs, [], command)
        return ra['return'], rb['return']

    def test_osinfo(self):
        self.compare('guest-get-osinfo')

    def test_host_name(self):
        self.compare('guest-get-host-name')

    def test_users(self):
        self.compare('guest-get-users')

    def test_load(self):
        self.compare('guest-get-load')

    def test_interfaces(self):
        a, _ = self.compare('guest-network-get-interfaces')
        self.assertTrue(a)

    def test_routes(self):
        self.compare('guest-network-get-route')

    def test_vcpus(self):
        a, _ = self.compare('guest-get-vcpus')
        # No-op requests (the current state) and errors: safe on the host.
        self.compare('guest-set-vcpus', {'vcpus': [
            {'logical-id': v['logical-id'], 'online': v['online']} for v in a]})
        self.compare('guest-set-vcpus', {'vcpus': []})
        self.compare('guest-set-vcpus', {'vcpus': [
            {'logical-id': 4242, 'online': True}]})
        fixed = [v['logical-id'] for v in a if not v['can-offline']]
        if fixed:
            self.compare('guest-set-vcpus', {'vcpus': [
                {'logical-id': fixed[0], 'online': False}]})

    def test_cpustats(self):
        self.compare('guest-get-cpustats')

    def test_memory_blocks(self):
        a, _ = self.compare('guest-get-memory-blocks')
        self.compare('guest-get-memory-block-info')
        req = [{'phys-index': b['phys-index'], 'online': b['online']}
               for b in (a or [])[:4]]
        req.append({'phys-index': 876543210, 'online': False})
        self.compare('guest-set-memory-blocks', {'mem-blks': req})
        self.compare('guest-set-memory-blocks', {'mem-blks': []})

    def test_disks(self):
        self.compare('guest-get-disks')

    def test_diskstats(self):
        self.compare('guest-get-diskstats')

    def test_guest_info_flags(self):
        ia = {c['name']: c for c in self.a.ok('guest-info')['supported_commands']}
        ib = {c['name']: c for c in self.b.ok('guest-info')['supported_commands']}
        for name in ('guest-get-osinfo', 'guest-get-host-name',
                     'guest-get-users', 'guest-get-vcpus', 'guest-set-vcpus',
                     'guest-get-cpustats', 'guest-get-memory-blocks',
                     'guest-set-memory-blocks', 'guest-get-memory-block-info',
                     'guest-network-get-interfaces', 'guest-get-disks',
                     'guest-get-diskstats'):
            self.assertEqual(ia[name], ib[name])


class DiffSelfTest(unittest.TestCase):
    """The comparison must see what it is meant to see."""

    def test_diff(self):
        self.assertEqual(diff({'a': 1}, {'a': 1}, []), [])
        self.assertTrue(diff({'a': 1}, {'a': 2}, []))
        self.assertEqual(diff({'a': 1}, {'a': 2}, [r'\.a$']), [])
        self.assertTrue(diff({'a': 1}, {'a': '1'}, [r'\.a$']))
        self.assertTrue(diff({'a': 1}, {}, []))
        self.assertTrue(diff([1, 2], [1], []))
        self.assertTrue(diff({'a': True}, {'a': 1}, []))


if __name__ == '__main__':
    unittest.main(verbosity=2)
