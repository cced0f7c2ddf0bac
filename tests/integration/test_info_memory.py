"""guest-get-memory-blocks, guest-set-memory-blocks,
guest-get-memory-block-info: schema and values against
/sys/devices/system/memory; set-memory-blocks only as no-ops on the real
machine, and for real against a fake sysfs tree (QGA_SYSFS_ROOT, qgad
only)."""
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
from qgatest import Agent, main, require_qgad  # noqa: E402
from infoagent import InfoAgentTest, connect  # noqa: E402
from schemacheck import check_return  # noqa: E402

MEM_DIR = '/sys/devices/system/memory'
ENOENT = 2


def read(path, n=None):
    with open(path) as f:
        return f.read() if n is None else f.read(n)


def sys_blocks(base=MEM_DIR):
    out = {}
    for name in os.listdir(base):
        d = os.path.join(base, name)
        if not name.startswith('memory') or not os.path.isdir(d):
            continue
        state = os.path.join(d, 'state')
        if not os.path.exists(state):
            out[int(name[6:])] = (True, False)
            continue
        rem = os.path.join(d, 'removable')
        out[int(name[6:])] = (read(state).startswith('online'),
                              os.path.exists(rem) and read(rem, 1) != '0')
    return out


class RealMemory(InfoAgentTest):
    def test_blocks(self):
        blocks = self.c.ok('guest-get-memory-blocks')
        check_return(self, 'guest-get-memory-blocks', blocks)
        if not os.path.isdir(MEM_DIR):
            self.assertEqual(blocks, [])
            return
        got = {b['phys-index']: (b['online'], b['can-offline']) for b in blocks}
        self.assertEqual(len(got), len(blocks))
        self.assertEqual(got, sys_blocks())

    def test_block_info(self):
        r = self.c.cmd('guest-get-memory-block-info')
        if not os.path.isdir(MEM_DIR):
            self.assertError(r, desc='open("/sys/devices/system/memory/"): '
                             'No such file or directory')
            return
        check_return(self, 'guest-get-memory-block-info', r['return'])
        self.assertEqual(r['return']['size'],
                         int(read(MEM_DIR + '/block_size_bytes'), 16))

    def test_set_noops_and_unknown(self):
        self.assertEqual(self.c.ok('guest-set-memory-blocks', {'mem-blks': []}), [])
        if not os.path.isdir(MEM_DIR):
            self.skipTest('no memory hotplug directory')
        cur = sys_blocks()
        some = sorted(cur)[:3]
        req = [{'phys-index': i, 'online': cur[i][0]} for i in some]
        req.append({'phys-index': 987654321, 'online': True})
        r = self.c.ok('guest-set-memory-blocks', {'mem-blks': req})
        check_return(self, 'guest-set-memory-blocks', r)
        self.assertEqual(r, [{'phys-index': i, 'response': 'success'}
                             for i in some] +
                         [{'phys-index': 987654321, 'response': 'not-found',
                           'error-code': ENOENT}])
        self.assertEqual(sys_blocks(), cur)


def fake_memory(root, blocks, block_size='8000000\n'):
    """blocks: {index: (state or None, removable or None)}."""
    base = os.path.join(root, 'devices', 'system', 'memory')
    os.makedirs(os.path.join(base, 'power'))
    if block_size is not None:
        with open(os.path.join(base, 'block_size_bytes'), 'w') as f:
            f.write(block_size)
    for i, (state, removable) in blocks.items():
        d = os.path.join(base, 'memory%d' % i)
        os.makedirs(d)
        for name, val in (('state', state), ('removable', removable)):
            if val is not None:
                with open(os.path.join(d, name), 'w') as f:
                    f.write(val + '\n')
    return base


@require_qgad
class FakeSysfsMemory(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = self.tmp.name
        self.agent = None

    def tearDown(self):
        if self.agent:
            self.c.close()
            self.agent.stop()
        self.tmp.cleanup()

    def start(self, blocks, **kw):
        self.base = fake_memory(self.root, blocks, **kw)
        self.agent = Agent(env={'QGA_SYSFS_ROOT': self.root})
        self.c = connect(self.agent)

    def state(self, i):
        return read(os.path.join(self.base, 'memory%d' % i, 'state'))

    def test_get_reads_the_tree(self):
        self.start({0: ('online', '0'), 5: ('offline', '1'),
                    7: ('online', None), 9: (None, None)})
        blocks = self.c.ok('guest-get-memory-blocks')
        check_return(self, 'guest-get-memory-blocks', blocks)
        self.assertEqual(sorted((b['phys-index'], b['online'], b['can-offline'])
                                for b in blocks),
                         [(0, True, False), (5, False, True), (7, True, False),
                          (9, True, False)])
        self.assertEqual(self.c.ok('guest-get-memory-block-info'),
                         {'size': 134217728})

    def test_set_changes_state(self):
        self.start({1: ('online', '1'), 2: ('offline', '1')})
        r = self.c.ok('guest-set-memory-blocks', {'mem-blks': [
            {'phys-index': 1, 'online': False},
            {'phys-index': 2, 'online': True}]})
        check_return(self, 'guest-set-memory-blocks', r)
        self.assertEqual(r, [{'phys-index': 1, 'response': 'success'},
                             {'phys-index': 2, 'response': 'success'}])
        self.assertTrue(self.state(1).startswith('offline'))
        self.assertTrue(self.state(2).startswith('online'))

    def test_same_state_is_not_written(self):
        self.start({1: ('online', '1')})
        path = os.path.join(self.base, 'memory1', 'state')
        with open(path, 'w') as f:
            f.write('online untouched\n')
        r = self.c.ok('guest-set-memory-blocks', {'mem-blks': [
            {'phys-index': 1, 'online': True}]})
        self.assertEqual(r, [{'phys-index': 1, 'response': 'success'}])
        self.assertEqual(self.state(1), 'online untouched\n')

    def test_responses_and_error_codes(self):
        self.start({1: ('online', '1'), 3: (None, None)})
        r = self.c.ok('guest-set-memory-blocks', {'mem-blks': [
            {'phys-index': 2, 'online': False},
            {'phys-index': 3, 'online': False},
            {'phys-index': 3, 'online': True},
            {'phys-index': 1, 'online': False}]})
        check_return(self, 'guest-set-memory-blocks', r)
        self.assertEqual(r, [
            {'phys-index': 2, 'response': 'not-found', 'error-code': ENOENT},
            # No state file: cannot offline; "online" is qemu-ga's odd
            # success that still carries the ENOENT.
            {'phys-index': 3, 'response': 'operation-not-supported',
             'error-code': ENOENT},
            {'phys-index': 3, 'response': 'success', 'error-code': ENOENT},
            {'phys-index': 1, 'response': 'success'}])

    def test_write_failure(self):
        self.start({1: ('online', '1')})
        state = os.path.join(self.base, 'memory1', 'state')
        os.unlink(state)
        os.mkdir(state)	# reads fail with EISDIR
        r = self.c.ok('guest-set-memory-blocks', {'mem-blks': [
            {'phys-index': 1, 'online': False}]})
        self.assertEqual(r, [{'phys-index': 1, 'response': 'operation-failed',
                              'error-code': 21}])
        r = self.c.cmd('guest-get-memory-blocks')
        self.assertEqual(r['error']['desc'],
                         'pread sysfs file "state": Is a directory')

    def test_no_memory_directory(self):
        self.start({})
        os.rename(self.base, self.base + '.gone')
        self.assertEqual(self.c.ok('guest-get-memory-blocks'), [])
        r = self.c.ok('guest-set-memory-blocks', {'mem-blks': [
            {'phys-index': 0, 'online': True}]})
        self.assertEqual(r, [{'phys-index': 0, 'response':
                              'operation-not-supported', 'error-code': ENOENT}])
        r = self.c.cmd('guest-get-memory-block-info')
        self.assertEqual(r['error']['desc'], 'open("%s/"): No such file or '
                         'directory' % self.base)

    def test_zero_blocks_is_an_error(self):
        self.start({}, block_size=None)
        r = self.c.cmd('guest-get-memory-blocks')
        self.assertEqual(r['error'], {'class': 'GenericError',
                                      'desc': 'guest reported zero memory blocks!'})
        r = self.c.cmd('guest-get-memory-block-info')
        self.assertEqual(r['error']['desc'], 'open sysfs file '
                         '"block_size_bytes": No such file or directory')


if __name__ == '__main__':
    main()
