"""guest-get-vcpus, guest-set-vcpus, guest-get-cpustats: schema and values
against /sys/devices/system/cpu and /proc/stat; set-vcpus only as no-ops
on the real machine, and for real against a fake sysfs tree
(QGA_SYSFS_ROOT, qgad only)."""
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
from qgatest import Agent, main, require_qgad  # noqa: E402
from infoagent import InfoAgentTest, connect  # noqa: E402
from schemacheck import check_return  # noqa: E402

CPU_DIR = '/sys/devices/system/cpu'
FIELDS = ['user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq',
          'steal', 'guest', 'guestnice']


def sys_cpus():
    out = {}
    for name in os.listdir(CPU_DIR):
        if name.startswith('cpu') and name[3:].isdigit():
            online = os.path.join(CPU_DIR, name, 'online')
            if os.path.exists(online):
                with open(online) as f:
                    out[int(name[3:])] = (f.read(1) != '0', True)
            else:
                out[int(name[3:])] = (True, False)
    return out


def proc_stat():
    tck = os.sysconf('SC_CLK_TCK')
    out = {}
    with open('/proc/stat') as f:
        for line in f:
            p = line.split()
            if p and p[0].startswith('cpu') and p[0] != 'cpu':
                out[int(p[0][3:])] = [int(v) * 1000 // tck for v in p[1:11]]
    return out


class RealCpus(InfoAgentTest):
    def test_get_vcpus(self):
        vcpus = self.c.ok('guest-get-vcpus')
        check_return(self, 'guest-get-vcpus', vcpus)
        got = {v['logical-id']: (v['online'], v['can-offline']) for v in vcpus}
        self.assertEqual(got, sys_cpus())
        self.assertEqual(len(vcpus), len(got))

    def test_cpustats(self):
        before = proc_stat()
        stats = self.c.ok('guest-get-cpustats')
        after = proc_stat()
        check_return(self, 'guest-get-cpustats', stats)
        self.assertEqual(sorted(s['cpu'] for s in stats), sorted(after))
        for s in stats:
            self.assertEqual(s['type'], 'linux')
            n = len(after[s['cpu']])
            self.assertEqual(set(s) - {'type', 'cpu'}, set(FIELDS[:n]))
            for i, name in enumerate(FIELDS[:n]):
                self.assertGreaterEqual(s[name], before[s['cpu']][i], name)
                self.assertLessEqual(s[name], after[s['cpu']][i], name)

    def test_set_vcpus_noops(self):
        # Asking for the current state writes nothing: safe on the host.
        cur = sys_cpus()
        req = [{'logical-id': i, 'online': st[0]} for i, st in sorted(cur.items())]
        self.assertEqual(self.c.ok('guest-set-vcpus', {'vcpus': req}), len(req))
        self.assertEqual(sys_cpus(), cur)
        self.assertEqual(self.c.ok('guest-set-vcpus', {'vcpus': []}), 0)

    def test_set_vcpus_errors(self):
        r = self.c.cmd('guest-set-vcpus',
                       {'vcpus': [{'logical-id': 99999, 'online': True}]})
        self.assertError(r, desc='open("/sys/devices/system/cpu/cpu99999/"): '
                         'No such file or directory')
        fixed = [i for i, st in sys_cpus().items() if not st[1]]
        if fixed:
            r = self.c.cmd('guest-set-vcpus',
                           {'vcpus': [{'logical-id': fixed[0], 'online': False}]})
            self.assertError(r, desc="logical processor #%d can't be offlined"
                             % fixed[0])

    def test_set_vcpus_argument_checks(self):
        self.assertError(self.c.cmd('guest-set-vcpus', {}),
                         desc="Parameter 'vcpus' is missing")
        self.assertError(self.c.cmd('guest-set-vcpus',
                                    {'vcpus': [{'logical-id': 0}]}),
                         desc="Parameter 'vcpus[0].online' is missing")


def fake_cpus(root, spec):
    """spec: {id: None (no online file) or '0'/'1'}."""
    base = os.path.join(root, 'devices', 'system', 'cpu')
    os.makedirs(os.path.join(base, 'cpufreq'))
    with open(os.path.join(base, 'online'), 'w') as f:
        f.write('0-%d\n' % (len(spec) - 1))
    for i, state in spec.items():
        d = os.path.join(base, 'cpu%d' % i)
        os.makedirs(d)
        if state is not None:
            with open(os.path.join(d, 'online'), 'w') as f:
                f.write(state + '\n')
    return base


def online_file(base, i):
    with open(os.path.join(base, 'cpu%d' % i, 'online')) as f:
        return f.read()


@require_qgad
class FakeSysfsCpus(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = self.tmp.name
        self.base = fake_cpus(self.root, {0: None, 1: '1', 2: '0', 3: '1'})
        self.agent = Agent(env={'QGA_SYSFS_ROOT': self.root})
        self.c = connect(self.agent)

    def tearDown(self):
        self.c.close()
        self.agent.stop()
        self.tmp.cleanup()

    def set(self, *vcpus):
        return self.c.cmd('guest-set-vcpus', {'vcpus': [
            {'logical-id': i, 'online': on} for i, on in vcpus]})

    def test_get_reads_the_tree(self):
        vcpus = self.c.ok('guest-get-vcpus')
        check_return(self, 'guest-get-vcpus', vcpus)
        self.assertEqual(sorted((v['logical-id'], v['online'], v['can-offline'])
                                for v in vcpus),
                         [(0, True, False), (1, True, True), (2, False, True),
                          (3, True, True)])

    def test_offline_and_online(self):
        self.assertEqual(self.set((1, False), (2, True)), {'return': 2})
        self.assertEqual(online_file(self.base, 1), '0\n')
        self.assertEqual(online_file(self.base, 2), '1\n')

    def test_unchanged_state_is_not_written(self):
        path = os.path.join(self.base, 'cpu3', 'online')
        with open(path, 'w') as f:
            f.write('1 untouched\n')
        self.assertEqual(self.set((3, True)), {'return': 1})
        self.assertEqual(online_file(self.base, 3), '1 untouched\n')

    def test_stops_at_first_failure(self):
        # cpu0 has no online file: it cannot go offline.
        self.assertEqual(self.set((1, False), (0, False), (2, True)),
                         {'return': 1})
        self.assertEqual(online_file(self.base, 1), '0\n')
        self.assertEqual(online_file(self.base, 2), '0\n', 'not reached')

    def test_first_failure_is_an_error(self):
        r = self.set((0, False), (1, False))
        self.assertEqual(r['error']['desc'], "logical processor #0 can't be offlined")
        self.assertEqual(online_file(self.base, 1), '1\n')
        r = self.set((7, True))
        self.assertEqual(r['error']['desc'], 'open("%s/cpu7/"): No such file '
                         'or directory' % self.base)

    def test_online_without_online_file_is_fine(self):
        self.assertEqual(self.set((0, True)), {'return': 1})

    def test_empty_online_file(self):
        open(os.path.join(self.base, 'cpu3', 'online'), 'w').close()
        r = self.set((3, False))
        self.assertEqual(r['error']['desc'],
                         'pread("%s/cpu3//online"): unexpected EOF' % self.base)
        r = self.c.cmd('guest-get-vcpus')
        self.assertEqual(r['error']['desc'],
                         'pread("%s/cpu3//online"): unexpected EOF' % self.base)

    def test_missing_cpu_dir(self):
        os.rename(self.base, self.base + '.gone')
        r = self.c.cmd('guest-get-vcpus')
        self.assertEqual(r['error']['desc'], 'failed to list entries: %s: '
                         'No such file or directory' % self.base)


@require_qgad
class FakeProcStat(unittest.TestCase):
    """Kernels with fewer /proc/stat columns: missing members are absent."""

    def test_short_lines(self):
        with tempfile.TemporaryDirectory() as root:
            with open(os.path.join(root, 'stat'), 'w') as f:
                f.write('cpu  1 2 3 4 5 6 7 8 9 10\n'
                        'cpu0 100 200 300 400\n'
                        'cpu1 100 200 300 400 500 600 700 800 900 1000\n'
                        'intr 1 2 3\n')
            with Agent(env={'QGA_PROCFS_ROOT': root}) as a:
                c = connect(a)
                stats = c.ok('guest-get-cpustats')
                c.close()
        check_return(self, 'guest-get-cpustats', stats)
        tck = os.sysconf('SC_CLK_TCK')
        self.assertEqual(stats[0], {'type': 'linux', 'cpu': 0,
                                    'user': 100000 // tck, 'nice': 200000 // tck,
                                    'system': 300000 // tck, 'idle': 400000 // tck})
        self.assertEqual(set(stats[1]) - {'type', 'cpu'}, set(FIELDS))
        self.assertEqual(stats[1]['guestnice'], 1000000 // tck)
        self.assertEqual(len(stats), 2)


if __name__ == '__main__':
    main()
