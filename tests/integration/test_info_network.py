"""guest-network-get-interfaces and guest-network-get-route: schema
conformance and values against `ip -j addr`, /sys/class/net,
/proc/net/dev, /proc/net/route and /proc/net/ipv6_route."""
import ipaddress
import json
import os
import socket
import struct
import subprocess
import sys
import shutil
import signal
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
import qgatest  # noqa: E402
from qgatest import Agent, is_qemu_ga, main, require_qgad, terminate  # noqa: E402
from infoagent import InfoAgentTest, connect  # noqa: E402
from schemacheck import check_return  # noqa: E402

STAT_COLS = {'rx-bytes': 0, 'rx-packets': 1, 'rx-errs': 2, 'rx-dropped': 3,
             'tx-bytes': 8, 'tx-packets': 9, 'tx-errs': 10, 'tx-dropped': 11}


def netdev():
    out = {}
    with open('/proc/net/dev') as f:
        for line in f:
            if ':' not in line:
                continue
            name, _, rest = line.partition(':')
            vals = [int(x) for x in rest.split()]
            out.setdefault(name.strip(), vals)
    return out


def ip_addrs(prefix=()):
    """{ifname: [(address, type, prefix), ...]} from iproute2."""
    data = json.loads(subprocess.run(list(prefix) + ['ip', '-j', 'addr'], check=True,
                                     capture_output=True, text=True).stdout)
    out = {}
    for link in data:
        for a in link.get('addr_info', []):
            fam = {'inet': 'ipv4', 'inet6': 'ipv6'}.get(a.get('family'))
            if fam is None:
                continue
            # IPv4 labels ("eth0:1") are separate names in getifaddrs.
            name = a.get('label', link['ifname']) if fam == 'ipv4' else link['ifname']
            out.setdefault(name, []).append((a['local'], fam, a['prefixlen']))
    return out


class Interfaces(InfoAgentTest):
    def setUp(self):
        self.before = netdev()
        self.ifs = self.c.ok('guest-network-get-interfaces')
        self.after = netdev()

    def test_schema(self):
        check_return(self, 'guest-network-get-interfaces', self.ifs)

    def test_names_are_the_links(self):
        names = [i['name'] for i in self.ifs]
        self.assertEqual(len(names), len(set(names)), 'one entry per name')
        self.assertTrue(set(os.listdir('/sys/class/net')) <= set(names))
        self.assertEqual(set(names) - set(os.listdir('/sys/class/net')),
                         set(ip_addrs()) - set(os.listdir('/sys/class/net')))

    def test_addresses(self):
        want = ip_addrs()
        for i in self.ifs:
            got = sorted((a['ip-address'], a['ip-address-type'], a['prefix'])
                         for a in i.get('ip-addresses', []))
            self.assertEqual(got, sorted(want.get(i['name'], [])), i['name'])
            if 'ip-addresses' in i:
                self.assertNotEqual(i['ip-addresses'], [])

    def test_hardware_address(self):
        for i in self.ifs:
            path = '/sys/class/net/%s/address' % i['name']
            if not os.path.exists(path):
                continue
            with open(path) as f:
                mac = f.read().strip()
            if len(mac) == 17:
                self.assertEqual(i.get('hardware-address'), mac, i['name'])

    def test_statistics_with_addresses_only(self):
        for i in self.ifs:
            if 'ip-addresses' not in i:
                self.assertNotIn('statistics', i, i['name'])
                continue
            if i['name'] not in self.before:
                continue
            st = i['statistics']
            for key, col in STAT_COLS.items():
                self.assertGreaterEqual(st[key], self.before[i['name']][col])
                self.assertLessEqual(st[key], self.after[i['name']][col])


def v4(hexval):
    return socket.inet_ntoa(struct.pack('<I', int(hexval, 16)))


def v6(hexval):
    return str(ipaddress.IPv6Address(bytes.fromhex(hexval)))


def s32(hexval):
    v = int(hexval, 16)
    return v - (1 << 32) if v >= 1 << 31 else v


def proc_routes():
    routes = []
    with open('/proc/net/route') as f:
        next(f)
        for line in f:
            p = line.split()
            routes.append({'iface': p[0], 'destination': v4(p[1]),
                           'gateway': v4(p[2]), 'flags': int(p[3], 16),
                           'refcnt': int(p[4]), 'use': int(p[5]),
                           'metric': int(p[6]), 'mask': v4(p[7]),
                           'mtu': int(p[8]), 'window': int(p[9]),
                           'irtt': int(p[10]), 'version': 4})
    with open('/proc/net/ipv6_route') as f:
        for line in f:
            p = line.split()
            routes.append({'destination': v6(p[0]),
                           'desprefixlen': str(int(p[1], 16)),
                           'source': v6(p[2]),
                           'srcprefixlen': str(int(p[3], 16)),
                           'nexthop': v6(p[4]), 'metric': s32(p[5]),
                           'refcnt': s32(p[6]), 'use': s32(p[7]),
                           'flags': int(p[8], 16), 'iface': p[9],
                           'version': 6})
    return routes


class Routes(InfoAgentTest):
    def setUp(self):
        if is_qemu_ga() and self.c.cmd('guest-network-get-route').get(
                'error', {}).get('class') == 'CommandNotFound':
            self.skipTest('guest-network-get-route is newer than this qemu-ga')

    def test_routes_match_proc(self):
        before = proc_routes()
        routes = self.c.ok('guest-network-get-route')
        after = proc_routes()
        check_return(self, 'guest-network-get-route', routes)
        # refcnt and use move with traffic; the rest must match.
        def key(r):
            return json.dumps({k: v for k, v in r.items()
                               if k not in ('refcnt', 'use')}, sort_keys=True)
        got = sorted(key(r) for r in routes)
        self.assertIn(got, (sorted(key(r) for r in before),
                            sorted(key(r) for r in after)))
        self.assertTrue(any(r['version'] == 4 for r in routes) or
                        len(before) == 0)


N_LINKS = 120


@unittest.skipUnless(os.geteuid() == 0 and shutil.which('unshare') and
                     shutil.which('nsenter'), 'needs root, unshare, nsenter')
class ManyInterfaces(unittest.TestCase):
    """The agent in a network namespace of its own with many links,
    IPv4 label aliases (separate names in getifaddrs) and links without
    addresses; checked against iproute2 in the same namespace."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        d = cls.tmp.name
        batch = os.path.join(d, 'batch')
        with open(batch, 'w') as f:
            f.write('link set lo up\n')
            for i in range(N_LINKS):
                f.write('link add t%d type ifb\nlink set t%d up\n' % (i, i))
                if i % 3:
                    f.write('addr add 10.%d.%d.1/%d dev t%d\n'
                            % (i >> 8, i & 255, 16 + i % 15, i))
                if i % 3 == 2:
                    f.write('addr add 10.%d.%d.2/32 dev t%d label t%d:al\n'
                            % (i >> 8, i & 255, i, i))
                    f.write('addr add fd00:%x::1/%d dev t%d nodad\n'
                            % (i, 48 + i % 80, i))
        cls.sock = os.path.join(d, 'sock')
        cls.log = open(os.path.join(d, 'log'), 'wb')
        cls.proc = subprocess.Popen(
            ['unshare', '-n', 'sh', '-c', 'ip -batch "$0" && exec "$@"', batch,
             qgatest.AGENT, '-m', 'unix-listen', '-p', cls.sock, '-t', d],
            cwd=d, stdin=subprocess.DEVNULL, stdout=cls.log, stderr=cls.log,
            env=dict(os.environ, QGA_CONF=os.path.join(d, 'none.conf')))
        deadline = time.time() + 60
        while True:
            try:
                with socket.socket(socket.AF_UNIX) as probe:
                    probe.connect(cls.sock)
                cls.c = qgatest.Conn(cls.sock)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                if time.time() > deadline or cls.proc.poll() is not None:
                    raise RuntimeError('agent in a netns did not start')
                time.sleep(0.05)
        cls.ns = ['nsenter', '-t', str(cls.proc.pid), '-n']

    @classmethod
    def tearDownClass(cls):
        cls.c.close()
        # The netns shell execs the agent: proc is the agent itself.
        if terminate(cls.proc) == -signal.SIGKILL and is_qemu_ga():
            sys.stderr.write('warning: qemu-ga did not exit on SIGTERM\n')
        cls.log.close()
        cls.tmp.cleanup()

    def test_every_link_and_address(self):
        ifs = self.c.ok('guest-network-get-interfaces')
        check_return(self, 'guest-network-get-interfaces', ifs)
        want = ip_addrs(self.ns)
        names = [i['name'] for i in ifs]
        self.assertEqual(len(names), len(set(names)))
        for i in range(N_LINKS):
            self.assertIn('t%d' % i, names)
            if i % 3 == 2:
                self.assertIn('t%d:al' % i, names)
        for i in ifs:
            got = sorted((a['ip-address'], a['ip-address-type'], a['prefix'])
                         for a in i.get('ip-addresses', []))
            self.assertEqual(got, sorted(want.get(i['name'], [])), i['name'])
            # Aliases are not in /proc/net/dev: no statistics for them.
            self.assertEqual('statistics' in i,
                             'ip-addresses' in i and ':' not in i['name'],
                             i['name'])


LIBVIRT_MAX_REPLY = 10 * 1024 * 1024
ROUTE_HEADER = ('Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\t'
                'Mask\t\tMTU\tWindow\tIRTT\n')


@require_qgad
class FakeProcNet(unittest.TestCase):
    def run_agent(self, files, command, timeout=None):
        with tempfile.TemporaryDirectory() as root:
            os.makedirs(os.path.join(root, 'net'))
            for name, text in files.items():
                with open(os.path.join(root, name), 'w') as f:
                    f.write(text)
            with Agent('-v', env={'QGA_PROCFS_ROOT': root}) as a:
                c = connect(a)
                c.request(command)
                try:
                    raw = c.line(timeout)
                except EOFError:
                    raise AssertionError('EOF: rc=%r log=%s' % (
                        a.proc.poll(), a.log_text()[-3000:]))
                c.close()
        return raw, json.loads(raw)

    def test_route_formats(self):
        v4line = 'eth0\t0001A8C0\t0101A8C0\t0003\t2\t7\t100\t00FFFFFF\t1500\t0\t0\n'
        v6line = ('fe800000000000000000000000000000 40 '
                  '00000000000000000000000000000000 00 '
                  '20010db8000000000000000000000001 ffffffff 00000003 '
                  '0000001a 00200200       lo\n')
        _, r = self.run_agent({'net/route': ROUTE_HEADER + v4line + 'bad\n',
                               'net/ipv6_route': v6line + 'short line\n'},
                              'guest-network-get-route')
        check_return(self, 'guest-network-get-route', r['return'])
        self.assertEqual(r['return'], [
            {'iface': 'eth0', 'destination': '192.168.1.0',
             'gateway': '192.168.1.1', 'mask': '255.255.255.0', 'metric': 100,
             'flags': 3, 'refcnt': 2, 'use': 7, 'mtu': 1500, 'window': 0,
             'irtt': 0, 'version': 4},
            {'iface': 'lo', 'destination': 'fe80::', 'source': '::',
             'nexthop': '2001:db8::1', 'desprefixlen': '64',
             'srcprefixlen': '0', 'metric': -1, 'flags': 0x200200,
             'refcnt': 3, 'use': 26, 'version': 6}])

    def test_missing_route_file_is_an_error(self):
        _, r = self.run_agent({'net/route': ROUTE_HEADER},
                              'guest-network-get-route')
        self.assertTrue(r['error']['desc'].endswith(
            '/net/ipv6_route"): No such file or directory'), r)

    def test_route_reply_stays_under_libvirt_limit(self):
        n = 80000
        lines = ''.join('eth%d\t%08X\t0101A8C0\t0003\t0\t0\t100\tFFFFFFFF\t'
                        '0\t0\t0\n' % (i % 1000, i) for i in range(n))
        # 80,000 routes take valgrind about 30 s (CI's valgrind step).
        raw, r = self.run_agent({'net/route': ROUTE_HEADER + lines,
                                 'net/ipv6_route': ''},
                                'guest-network-get-route',
                                timeout=120 if qgatest.wrapped() else None)
        self.assertLess(len(raw) + 1, LIBVIRT_MAX_REPLY)
        routes = r['return']
        self.assertGreater(len(routes), 1000)
        self.assertLess(len(routes), n, 'this input needs truncation')
        self.assertEqual(routes[-1]['iface'], 'eth%d' % ((len(routes) - 1) % 1000))

    def test_interfaces_without_proc_net_dev(self):
        _, r = self.run_agent({}, 'guest-network-get-interfaces')
        check_return(self, 'guest-network-get-interfaces', r['return'])
        self.assertTrue(r['return'])
        for i in r['return']:
            self.assertNotIn('statistics', i)


if __name__ == '__main__':
    main()
