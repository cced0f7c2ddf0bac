"""The compatibility matrix of the handshake proposal, automated:

  new client, old server: libqga/qga against qemu-ga 7.2 and qgad
                          --negotiation=off: classified legacy, verbs work;
  new client, new server: libqga/qga against qgad optional and required;
  old client, new server: libvirt-, Proxmox- and qemu.qmp-style clients
                          against qgad optional (same bytes as qemu-ga) and
                          required (CommandNotFound naming request-negotiation);
  old client, old server: the same clients against qemu-ga;
and libqga against a real QEMU QMP monitor (classified QMP)."""
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clienttest import (QEMU_SYSTEM, agent, check, cli, cli_json,  # noqa
                        have_qemu_ga, need_qemu_ga, require_built)

REQUIRED_DESC = "Expecting capabilities negotiation with 'request-negotiation'"

# Verbs that are safe on the test machine itself (no shutdown, no freeze,
# no clock change) and the command each one needs.
SAFE_VERBS = [
    (['ping'], 'guest-ping'),
    (['info'], 'guest-info'),
    (['osinfo'], 'guest-get-osinfo'),
    (['hostname'], 'guest-get-host-name'),
    (['time'], 'guest-get-time'),
    (['timezone'], 'guest-get-timezone'),
    (['users'], 'guest-get-users'),
    (['ifaces'], 'guest-network-get-interfaces'),
    (['fsinfo'], 'guest-get-fsinfo'),
    (['disks'], 'guest-get-disks'),
    (['vcpus'], 'guest-get-vcpus'),
    (['fsfreeze', 'status'], 'guest-fsfreeze-status'),
    (['exec', '/bin/true'], 'guest-exec'),
    (['cat', '/etc/hostname'], 'guest-file-open'),
]


def recv_line(s, buf):
    while b'\n' not in buf[0]:
        chunk = s.recv(65536)
        if not chunk:
            raise EOFError('agent closed')
        buf[0] += chunk
    line, buf[0] = buf[0].split(b'\n', 1)
    return line + b'\n'


def libvirt_client(path):
    """qemu_agent.c: guest-sync with a ms-timestamp id, newline-terminated
    requests without ids, first return/error line is the reply."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect(path)
    buf = [b'']
    out = []
    s.sendall(b'{"execute":"guest-sync", "arguments":{"id":1700000000123}}\n')
    out.append(recv_line(s, buf))
    for cmd in (b'{"execute":"guest-ping"}\n',
                b'{"execute":"guest-ping", "arguments":{}}\n'):
        s.sendall(cmd)
        out.append(recv_line(s, buf))
    s.close()
    return out


def proxmox_client(path):
    """QMPClient.pm: guest-sync-delimited and the command in one write, no
    0xFF, no ids; skip to the first 0xFF, then two lines."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect(path)
    s.sendall(b'{"execute":"guest-sync-delimited","arguments":'
              b'{"id":4242042}}\n{"execute":"guest-ping","arguments":{}}\n')
    data = b''
    pat = re.compile(rb'^[^\xff]*\xff([^\n]+})\r?\n([^\n]+})\r?\n', re.S)
    while not pat.match(data):
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    m = pat.match(data)
    if not m:
        raise AssertionError('proxmox regex failed on %r' % data)
    return [b'\xff' + m.group(1) + b'\n', m.group(2) + b'\n']


def qmp_client(path):
    """qemu.qmp with negotiate=False: string ids, no trailing newline."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect(path)
    buf = [b'']
    out = []
    for n, cmd in enumerate(('guest-ping', 'guest-ping'), 1):
        s.sendall(json.dumps({'execute': cmd,
                              'id': '__qmp#%05d' % n}).encode())
        out.append(recv_line(s, buf))
    s.close()
    return out


class NewClient(unittest.TestCase):
    def run_verbs(self, sock):
        commands = [c['name'] for c in
                    cli_json(sock, 'info')['supported_commands']]
        for verb, needs in SAFE_VERBS:
            rc, out, err = cli(sock, *verb)
            if needs in commands:
                self.assertEqual(rc, 0, '%s: %s' % (verb, err))
                rc, out, err = cli(sock, '--json', *verb)
                self.assertEqual(rc, 0, '%s --json: %s' % (verb, err))
                if verb[0] not in ('cat', 'exec'):
                    json.loads(out)
            else:
                # Not implemented yet: a clean CommandNotFound, exit 1.
                self.assertEqual(rc, 1, '%s: %s' % (verb, err))
                self.assertIn('CommandNotFound', err)

    def probe(self, sock):
        return cli_json(sock, 'probe')

    @need_qemu_ga
    def test_old_server_qemu_ga(self):
        with agent('qemu-ga') as a:
            p = self.probe(a.sock)
            self.assertEqual((p['class'], p['greeting']), ('legacy', None))
            self.assertTrue(p['version'].startswith('7.'))
            self.assertIn('guest-exec', p['commands'])
            self.run_verbs(a.sock)

    def test_old_server_qgad_off(self):
        with agent('qgad', '--negotiation=off') as a:
            p = self.probe(a.sock)
            self.assertEqual(p['class'], 'legacy')
            self.assertNotIn('request-negotiation', p['commands'])
            self.run_verbs(a.sock)

    def test_new_server_qgad_optional(self):
        with agent('qgad') as a:
            p = self.probe(a.sock)
            self.assertEqual(p['class'], 'negotiating')
            self.assertTrue(p['greeting']['version']['package'].startswith(
                'qgad'))
            self.run_verbs(a.sock)

    def test_new_server_qgad_required(self):
        with agent('qgad', '--negotiation=required') as a:
            p = self.probe(a.sock)
            self.assertEqual(p['class'], 'negotiating')
            self.run_verbs(a.sock)


class OldClient(unittest.TestCase):
    clients = (('libvirt', libvirt_client), ('proxmox', proxmox_client),
               ('qemu.qmp', qmp_client))

    def transcripts(self, kind, *args):
        with agent(kind, *args) as a:
            return {name: fn(a.sock) for name, fn in self.clients}

    def check_working(self, t):
        self.assertEqual(t['libvirt'][0], b'{"return": 1700000000123}\n')
        self.assertEqual(t['libvirt'][1], b'{"return": {}}\n')
        self.assertEqual(t['libvirt'][2], b'{"return": {}}\n')
        self.assertEqual(t['proxmox'], [b'\xff{"return": 4242042}\n',
                                        b'{"return": {}}\n'])
        self.assertEqual(t['qemu.qmp'][0],
                         b'{"return": {}, "id": "__qmp#00001"}\n')
        self.assertEqual(t['qemu.qmp'][1],
                         b'{"return": {}, "id": "__qmp#00002"}\n')

    @need_qemu_ga
    def test_old_client_old_server(self):
        self.check_working(self.transcripts('qemu-ga'))

    def test_old_client_new_server_optional(self):
        t = self.transcripts('qgad')
        self.check_working(t)
        if have_qemu_ga:
            ref = self.transcripts('qemu-ga')
            for name in t:
                self.assertEqual(t[name], ref[name], name)

    def test_old_client_new_server_required(self):
        with agent('qgad', '--negotiation=required') as a:
            lv = libvirt_client(a.sock)
            px = proxmox_client(a.sock)
            qm = qmp_client(a.sock)
        # Syncs still work; every other command names request-negotiation.
        self.assertEqual(lv[0], b'{"return": 1700000000123}\n')
        self.assertEqual(px[0], b'\xff{"return": 4242042}\n')
        for line in (lv[1], lv[2], px[1], qm[0], qm[1]):
            r = json.loads(line)
            self.assertEqual(r['error'], {'class': 'CommandNotFound',
                                          'desc': REQUIRED_DESC}, line)
        self.assertEqual(json.loads(qm[0])['id'], '__qmp#00001')


@unittest.skipUnless(QEMU_SYSTEM, 'qemu-system-x86_64 not installed')
class QmpMonitor(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix='qga-qmp-')
        self.sock = os.path.join(self.tmp.name, 'qmp.sock')
        self.proc = subprocess.Popen(
            [QEMU_SYSTEM, '-machine', 'none', '-nodefaults', '-display',
             'none', '-qmp', 'unix:%s,server=on,wait=off' % self.sock],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while not os.path.exists(self.sock):
            if time.time() > deadline or self.proc.poll() is not None:
                self.fail('QEMU did not create its QMP socket')
            time.sleep(0.02)

    def tearDown(self):
        self.proc.terminate()
        self.proc.wait(10)
        self.tmp.cleanup()

    def test_classified_qmp(self):
        res = check(self.sock, 'class', 'call:query-version',
                    opts=('-c', 'oob'))
        self.assertEqual(res[1]['class'], 'qmp')
        self.assertIn('qemu', res[1]['greeting']['version'])
        self.assertEqual(res[1]['enabled'], ['oob'])
        ver = res[2]['reply']['return']
        self.assertEqual(ver['qemu'], res[1]['greeting']['version']['qemu'])

    def test_cli_probe_and_call(self):
        p = cli_json(self.sock, 'probe')
        self.assertEqual(p['class'], 'qmp')
        self.assertIn('query-version', p['commands'])
        v = cli_json(self.sock, 'call', 'query-version')
        self.assertIn('major', v['qemu'])


if __name__ == '__main__':
    require_built()
    unittest.main(verbosity=2)
