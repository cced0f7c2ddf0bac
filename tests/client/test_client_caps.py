"""libqga and the capabilities a negotiating agent offers (issue 10): calls
out of band (QGA_CALL_OOB) and replies out of order, events through
qga_wait_event(), and qga_get_limits(). Each against qgad with the
capability enabled, and against sessions that must never see it: qgad
without the capability, qgad --negotiation=off, a legacy client of qgad,
and the real qemu-ga.

A "long in-band command" is guest-set-user-password with a fake chpasswd
first on the agent's PATH that reads a line from a FIFO: it runs until the
test writes one, so the order of events is decided by the test, never by a
clock (and no password changes)."""
import base64
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clienttest import (CHECK, QGA_CLI, FakeAgent, agent,  # noqa: E402
                        check, cli, cli_json, have_qemu_ga,
                        legacy_behaviour,
                        need_qemu_ga, not_found, reply, require_built)

ETIMEDOUT = -110
ECONNRESET = -104
# Only a safety net against a hang: no assertion depends on it.
LINE_TIMEOUT = 60


class Lines:
    """libqga-check run in the background, read line by line."""

    def __init__(self, sock, *ops, opts=()):
        self.p = subprocess.Popen([CHECK] + list(opts) + [sock] + list(ops),
                                  stdout=subprocess.PIPE)
        self.buf = b''

    def next(self):
        while b'\n' not in self.buf:
            r, _, _ = select.select([self.p.stdout], [], [], LINE_TIMEOUT)
            if not r:
                raise AssertionError('libqga-check said nothing for %d s'
                                     % LINE_TIMEOUT)
            data = os.read(self.p.stdout.fileno(), 65536)
            if not data:
                raise AssertionError('libqga-check ended early')
            self.buf += data
        line, self.buf = self.buf.split(b'\n', 1)
        return json.loads(line)

    def close(self):
        try:
            self.p.wait(LINE_TIMEOUT)
        finally:
            if self.p.poll() is None:
                self.p.kill()
                self.p.wait()
            self.p.stdout.close()


def fifo():
    d = tempfile.TemporaryDirectory(prefix='qga-caps-')
    path = os.path.join(d.name, 'fifo')
    os.mkfifo(path)
    return d, path


class Blocker:
    """The long in-band command: op for libqga-check, env for the agent,
    release() lets one such command finish."""
    op = ('send:guest-set-user-password:{"username": "nobody", '
          '"password": "eA==", "crypted": false}')

    def __init__(self):
        self.tmp = tempfile.TemporaryDirectory(prefix='qga-caps-')
        self.fifo = os.path.join(self.tmp.name, 'fifo')
        os.mkfifo(self.fifo)
        tool = os.path.join(self.tmp.name, 'chpasswd')
        with open(tool, 'w') as f:
            f.write('#!/bin/sh\ncat > /dev/null\nread x < "%s"\n' % self.fifo)
        os.chmod(tool, 0o755)
        self.env = {'PATH': self.tmp.name + ':' + os.environ['PATH']}

    def release(self):
        with open(self.fifo, 'w') as f:
            f.write('go\n')

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.tmp.cleanup()


class OutOfBand(unittest.TestCase):
    def test_oob_ping_overtakes_a_blocked_in_band_command(self):
        with Blocker() as blk, agent('qgad', env=blk.env) as a:
            run = Lines(a.sock, blk.op, 'sendoob:guest-ping', 'drain',
                        opts=('-c', 'oob'))
            try:
                self.assertEqual(run.next()['rc'], 0)       # connect
                self.assertEqual(run.next()['seq'], 1)      # the blocker
                queued = run.next()
                self.assertEqual((queued['seq'], queued['oob']), (2, True))
                # The blocker cannot finish before release(): whatever
                # completes now was answered out of band, out of order.
                first = run.next()
                self.assertEqual((first['op'], first['seq']),
                                 ('completed', 2), first)
                self.assertEqual(first['reply']['return'], {})
                blk.release()
                second = run.next()
                self.assertEqual((second['seq'], second['reply']),
                                 (1, {'return': {}, 'id': second['reply']
                                      ['id']}))
                self.assertEqual(run.next()['left'], 0)
            finally:
                run.close()

    def test_oob_not_stuck_behind_many_in_band_calls(self):
        # qgad stops reading a client with 8 in-band requests queued or
        # running; libqga keeps fewer in flight, so the ping still gets
        # through while ten blockers wait.
        n = 10
        with Blocker() as blk, agent('qgad', env=blk.env) as a:
            run = Lines(a.sock, *([blk.op] * n + ['sendoob:guest-ping',
                                                  'drain']),
                        opts=('-c', 'oob'))
            try:
                for _ in range(n + 2):
                    run.next()
                first = run.next()
                self.assertEqual(first['seq'], n + 1, first)
                done = []
                for _ in range(n):
                    blk.release()
                    done.append(run.next()['seq'])
                self.assertEqual(done, list(range(1, n + 1)))
                self.assertEqual(run.next()['left'], 0)
            finally:
                run.close()

    def in_band_in_order(self, sock, blk, opts):
        run = Lines(sock, blk.op, 'sendoob:guest-ping', 'drain', opts=opts)
        try:
            run.next()
            run.next()
            self.assertFalse(run.next()['oob'])
            blk.release()
            self.assertEqual([run.next()['seq'], run.next()['seq']], [1, 2])
        finally:
            run.close()

    def test_without_the_capability_qgad_keeps_order(self):
        with Blocker() as blk, agent('qgad', env=blk.env) as a:
            self.in_band_in_order(a.sock, blk, ('-c', 'events'))

    def test_legacy_client_of_qgad_keeps_order(self):
        with Blocker() as blk, agent('qgad', env=blk.env) as a:
            self.in_band_in_order(a.sock, blk, ('-N',))

    def test_negotiation_off_falls_back_to_execute(self):
        # exec-oob would be an error here; the flag must be ignored.
        with Blocker() as blk, \
                agent('qgad', '--negotiation=off', env=blk.env) as a:
            res = check(a.sock, 'oobavail:guest-ping', 'oob:guest-ping',
                        opts=('-c', 'oob'))
            self.in_band_in_order(a.sock, blk, ('-c', 'oob'))
        self.assertFalse(res[1]['oob'])
        self.assertEqual(res[2]['reply']['return'], {}, res)

    @need_qemu_ga
    def test_qemu_ga_falls_back_to_execute(self):
        with agent('qemu-ga') as a:
            res = check(a.sock, 'oob:guest-ping', 'oob:guest-info',
                        opts=('-c', 'oob'))
        self.assertEqual(res[1]['reply']['return'], {}, res)
        self.assertIn('version', res[2]['reply']['return'])

    def test_only_oob_commands_go_out_of_band(self):
        greeting = {'QMP': {'version': {'qemu': {'major': 10, 'minor': 2,
                                                 'micro': 0},
                                        'package': 'fake'},
                            'capabilities': ['oob']}}

        def behave(msg, conn):
            name = msg.get('execute') or msg.get('exec-oob')
            if name == 'request-negotiation':
                return reply({'return': greeting}, msg)
            if name == 'qmp_capabilities':
                return reply({'return': {}}, msg)
            return reply({'return': {}}, msg)
        with FakeAgent(behave) as f:
            check(f.sock, 'oob:guest-ping', 'oob:guest-get-time',
                  'call:guest-exec-status', 'oob:guest-exec-status',
                  opts=('-c', 'oob'))
            sent = [(next(k for k in m if k in ('execute', 'exec-oob')),
                     m.get('execute') or m.get('exec-oob'))
                    for m in f.received[2:]]
        self.assertEqual(sent, [('exec-oob', 'guest-ping'),
                                ('execute', 'guest-get-time'),
                                ('execute', 'guest-exec-status'),
                                ('exec-oob', 'guest-exec-status')])
        self.assertTrue(all('id' in m for m in f.received))

    def test_legacy_fake_never_sees_exec_oob(self):
        with FakeAgent(legacy_behaviour()) as f:
            res = check(f.sock, 'oob:guest-ping', opts=('-c', 'oob'))
            keys = [sorted(m) for m in f.received]
        self.assertEqual(res[1]['reply']['return'], {})
        self.assertFalse(any('exec-oob' in k for k in keys), keys)


class Events(unittest.TestCase):
    def stop_and_wait(self, a, opts, ops=('waitevent:-1', 'waitevent:-1')):
        """Wait for events in libqga-check while the agent gets SIGTERM;
        the waits end with the agent closing the connection at the
        latest."""
        run = Lines(a.sock, *ops, opts=('-Q',) + opts)
        try:
            self.assertEqual(run.next()['rc'], 0)
            a.proc.send_signal(signal.SIGTERM)
            return [run.next() for _ in ops]
        finally:
            run.close()

    def test_agent_stopping_reaches_qga_wait_event(self):
        with agent('qgad') as a:
            res = self.stop_and_wait(a, ('-c', 'events'))
        self.assertEqual(res[0]['rc'], 0, res)
        self.assertEqual(res[0]['event']['event'], 'AGENT_STOPPING')
        self.assertEqual(res[0]['event']['data'], {'signal': 15})
        self.assertEqual(res[1]['rc'], ECONNRESET)

    def test_sessions_without_events_see_none(self):
        for opts in (('-c', 'oob'), (), ('-N',)):
            with agent('qgad') as a:
                res = self.stop_and_wait(a, opts, ops=('waitevent:-1',))
            self.assertEqual((res[0]['rc'], res[0].get('event')),
                             (ECONNRESET, None), (opts, res))

    def test_negotiation_off_sees_none(self):
        with agent('qgad', '--negotiation=off') as a:
            res = self.stop_and_wait(a, ('-c', 'events'),
                                     ops=('waitevent:-1',))
        self.assertEqual((res[0]['rc'], res[0].get('event')),
                         (ECONNRESET, None), res)

    def test_guest_exec_exited_reaches_qga_wait_event(self):
        with agent('qgad') as a:
            res = check(a.sock, 'exec:/bin/true', 'waitevent:-1', 'status',
                        'waitevent:0', opts=('-Q', '-c', 'events'))
        pid = res[1]['reply']['return']['pid']
        self.assertEqual(res[2]['event']['event'], 'GUEST_EXEC_EXITED')
        self.assertEqual(res[2]['event']['data'], {'pid': pid, 'exitcode': 0})
        # The event promises that the status now says exited.
        self.assertEqual(res[3]['reply']['return'],
                         {'exited': True, 'exitcode': 0})
        self.assertEqual(res[4]['rc'], ETIMEDOUT)

    def test_guest_exec_without_events_sends_none(self):
        for opts in (('-c', 'oob'), ('-N',)):
            with agent('qgad') as a:
                res = check(a.sock, 'exec:/bin/true', 'statuswait',
                            'waitevent:0', opts=('-Q',) + opts)
            self.assertTrue(res[2]['reply']['return']['exited'])
            self.assertEqual((res[3]['rc'], res[3]['event']),
                             (ETIMEDOUT, None), opts)

    @need_qemu_ga
    def test_qemu_ga_sends_none(self):
        with agent('qemu-ga') as a:
            res = check(a.sock, 'waitevent:200', 'call:guest-ping',
                        opts=('-Q', '-c', 'events'))
        self.assertEqual(res[1]['rc'], ETIMEDOUT)
        self.assertEqual(res[2]['reply']['return'], {})

    def test_events_queue_during_calls(self):
        # Events that arrive while a blocking call waits are kept for
        # qga_wait_event(), in order; the callback, when set, gets them
        # instead.
        greeting = {'QMP': {'version': {'qemu': {'major': 10, 'minor': 2,
                                                 'micro': 0},
                                        'package': 'fake'},
                            'capabilities': ['events']}}

        def ev(n):
            return (b'{"event": "E%d", "data": {}, "timestamp": '
                    b'{"seconds": 1, "microseconds": 0}}\n' % n)

        def behave(msg, conn):
            if msg['execute'] == 'request-negotiation':
                return reply({'return': greeting}, msg)
            if msg['execute'] == 'qmp_capabilities':
                return reply({'return': {}}, msg)
            return ev(1) + ev(2) + legacy_behaviour()(msg, conn)
        with FakeAgent(behave) as f:
            res = check(f.sock, 'call:guest-ping', 'waitevent:0',
                        'waitevent:0', 'waitevent:0',
                        opts=('-Q', '-c', 'events'))
            res2 = check(f.sock, 'call:guest-ping', 'events',
                         'waitevent:0', opts=('-c', 'events'))
        self.assertEqual(res[1]['reply']['return'], {})
        self.assertEqual([(r['event'] or {}).get('event') for r in res[2:]],
                         ['E1', 'E2', None])
        self.assertEqual(res[4]['rc'], ETIMEDOUT)
        self.assertEqual(res2[2]['events'], 2)
        self.assertEqual(res2[3]['rc'], -22)     # EINVAL: callback set


class Limits(unittest.TestCase):
    LEGACY = {'max-message-bytes': 64 << 20,
              'max-file-read-count': 48 << 20,
              'max-exec-output-bytes': 16 << 20, 'max-nesting': 1024,
              'max-in-band-queue': 0, 'max-clients': 1, 'from-agent': False}

    def test_qgad_reports_its_limits(self):
        with agent('qgad', '--max-clients=3') as a:
            res = check(a.sock, 'limits', 'call:qga-get-limits',
                        opts=('-c', 'oob'))
        got, direct = res[1], res[2]['reply']['return']
        self.assertTrue(got['from-agent'])
        for key in ('max-message-bytes', 'max-file-read-count',
                    'max-exec-output-bytes', 'max-nesting',
                    'max-in-band-queue', 'max-clients'):
            self.assertEqual(got[key], direct[key], key)
        self.assertEqual(got['max-clients'], 3)

    def legacy(self, sock, opts=()):
        res = check(sock, 'limits', opts=opts)
        got = {k: v for k, v in res[1].items() if k not in ('op', 'ms', 'rc')}
        self.assertEqual(got, self.LEGACY)

    def test_negotiation_off(self):
        with agent('qgad', '--negotiation=off') as a:
            self.legacy(a.sock)

    def test_legacy_client_of_qgad(self):
        with agent('qgad') as a:
            self.legacy(a.sock, ('-N',))

    @need_qemu_ga
    def test_qemu_ga(self):
        with agent('qemu-ga') as a:
            self.legacy(a.sock)

    def test_negotiating_agent_without_the_command(self):
        # An agent that negotiates but has no qga-get-limits (an older
        # qgad): qemu-ga's values, asked once.
        greeting = {'QMP': {'version': {'qemu': {'major': 10, 'minor': 2,
                                                 'micro': 0},
                                        'package': 'fake'},
                            'capabilities': []}}

        def behave(msg, conn):
            if msg['execute'] == 'request-negotiation':
                return reply({'return': greeting}, msg)
            if msg['execute'] == 'qmp_capabilities':
                return reply({'return': {}}, msg)
            return legacy_behaviour()(msg, conn)
        with FakeAgent(behave) as f:
            res = check(f.sock, 'limits', 'limits')
            asked = [m for m in f.received
                     if m['execute'] == 'qga-get-limits']
        for r in res[1:]:
            got = {k: v for k, v in r.items() if k not in ('op', 'ms', 'rc')}
            self.assertEqual(got, self.LEGACY)
        self.assertEqual(len(asked), 1)

    def test_legacy_agent_is_not_asked(self):
        with FakeAgent(legacy_behaviour()) as f:
            self.legacy(f.sock)
            names = [m['execute'] for m in f.received]
        self.assertNotIn('qga-get-limits', names)



# ---------------------------------------------------------------------------
# The qga CLI.

def scripted(negotiate=True, caps=('oob', 'events'), limits=None,
             incremental=True, chunks=(b'one\n', b'two\n')):
    """A fake agent with just enough of files, exec and status to watch
    what qga sends. negotiate False: a legacy agent (no handshake, no
    qga-get-limits). incremental False: a negotiating agent that predates
    incremental guest-exec-status."""
    files = {}
    state = {'chunks': list(chunks)}
    greeting = {'QMP': {'version': {'qemu': {'major': 10, 'minor': 2,
                                             'micro': 0}, 'package': 'fake'},
                        'capabilities': list(caps)}}

    def behave(msg, conn):
        name = msg.get('execute') or msg.get('exec-oob')
        a = msg.get('arguments', {})
        if name in ('request-negotiation', 'qmp_capabilities',
                    'qga-get-limits') and not negotiate:
            return reply(not_found(name), msg)
        if name == 'request-negotiation':
            return reply({'return': greeting}, msg)
        if name == 'qga-get-limits':
            return reply({'return': limits or {}}, msg)
        if name == 'guest-file-open':
            files['pos'] = 0
            files.setdefault(a['path'], b'')
            if 'w' in a['mode']:
                files[a['path']] = b''
            files['cur'] = a['path']
            return reply({'return': 1000}, msg)
        if name == 'guest-file-read':
            data = files[files['cur']]
            part = data[files['pos']:files['pos'] + a['count']]
            files['pos'] += len(part)
            return reply({'return': {
                'count': len(part), 'eof': files['pos'] >= len(data),
                'buf-b64': base64.b64encode(part).decode()}}, msg)
        if name == 'guest-file-write':
            part = base64.b64decode(a['buf-b64'])
            files[files['cur']] += part
            return reply({'return': {'count': len(part), 'eof': False}},
                         msg)
        if name == 'guest-file-seek':
            size = len(files[files['cur']])
            files['pos'] = size if a['whence'] == 'end' else a['offset']
            return reply({'return': {'position': files['pos'],
                                     'eof': files['pos'] >= size}}, msg)
        if name == 'guest-exec':
            state['chunks'] = list(chunks)
            return reply({'return': {'pid': 42}}, msg)
        if name == 'guest-exec-status':
            if a.get('incremental') and not incremental:
                return reply({'error': {'class': 'GenericError', 'desc':
                              "Parameter 'incremental' is unexpected"}},
                             msg)
            if a.get('incremental') and state['chunks']:
                data = state['chunks'].pop(0)
                return reply({'return': {'exited': False, 'out-data':
                              base64.b64encode(data).decode(),
                              'out-truncated': False}}, msg)
            out = b'' if a.get('incremental') else b''.join(chunks)
            ret = {'exited': True, 'exitcode': 0}
            if out:
                ret.update({'out-data': base64.b64encode(out).decode(),
                            'out-truncated': False})
            return reply({'return': ret}, msg)
        if name in ('qmp_capabilities', 'guest-file-close', 'guest-ping'):
            return reply({'return': {}}, msg)
        if name == 'guest-info':
            return reply({'return': {'version': 'fake',
                                     'supported_commands': []}}, msg)
        if name == 'guest-fsfreeze-status':
            return reply({'return': 'thawed'}, msg)
        return legacy_behaviour()(msg, conn)
    return behave, files


def sent(fake, name):
    return [m for m in fake.received
            if (m.get('execute') or m.get('exec-oob')) == name]


class CliStatus(unittest.TestCase):
    def test_status_verbs_go_out_of_band(self):
        behave, _ = scripted()
        with FakeAgent(behave) as f:
            for argv in (['ping'], ['info'], ['fsfreeze', 'status'],
                         ['time']):
                cli(f.sock, *argv)
            caps = sent(f, 'qmp_capabilities')[0]['arguments']
            how = {(m.get('execute') or m.get('exec-oob')):
                   'exec-oob' if 'exec-oob' in m else 'execute'
                   for m in f.received}
        self.assertEqual(caps, {'enable': ['oob', 'events']})
        self.assertEqual([how[n] for n in (
            'guest-ping', 'guest-info', 'guest-fsfreeze-status',
            'guest-get-time')],
            ['exec-oob', 'exec-oob', 'exec-oob', 'execute'])

    def test_legacy_agent_sees_neither_oob_nor_capabilities(self):
        behave, _ = scripted(negotiate=False)
        with FakeAgent(behave) as f:
            for argv in (['ping'], ['info'], ['fsfreeze', 'status']):
                self.assertEqual(cli(f.sock, *argv)[0], 0, argv)
            keys = {k for m in f.received for k in m}
            names = {m['execute'] for m in f.received}
        self.assertNotIn('exec-oob', keys)
        self.assertFalse(names & {'qmp_capabilities', 'qga-get-limits'})

    def test_probe_shows_the_limits(self):
        with agent('qgad') as a, agent('qgad', '--negotiation=off') as b:
            new = cli_json(a.sock, 'probe')
            old = cli_json(b.sock, 'probe')
            rc, text, _ = cli(a.sock, 'probe')
        self.assertEqual(new['enabled'], ['oob', 'events'])
        self.assertEqual((new['limits']['from-agent'],
                          new['limits']['max-in-band-queue']), (True, 8))
        self.assertEqual((old['limits']['from-agent'],
                          old['limits']['max-file-read-count']),
                         (False, 48 << 20))
        self.assertIn(b'limits:       read 48 MiB, exec output 16 MiB, '
                      b'message 64 MiB (reported by the agent)', text)

    def test_qgad_and_qemu_ga(self):
        kinds = [('qgad', ()), ('qgad', ('--negotiation=off',))]
        if have_qemu_ga:
            kinds.append(('qemu-ga', ()))
        for kind, args in kinds:
            with self.subTest(kind + str(args)), agent(kind, *args) as a:
                self.assertEqual(cli(a.sock, 'ping')[:2], (0, b'ok\n'))
                self.assertEqual(cli(a.sock, 'fsfreeze', 'status')[:2],
                                 (0, b'thawed\n'))


class CliChunks(unittest.TestCase):
    def run_transfer(self, behave, files, size):
        payload = bytes(range(256)) * (size // 256) + b'x' * (size % 256)
        with tempfile.TemporaryDirectory(prefix='qga-caps-') as d, \
                FakeAgent(behave) as f:
            local = os.path.join(d, 'l')
            with open(local, 'wb') as fh:
                fh.write(payload)
            self.assertEqual(cli(f.sock, 'put', local, '/g')[0], 0)
            self.assertEqual(files['/g'], payload)
            rc, out, err = cli(f.sock, 'cat', '/g')
            self.assertEqual((rc, out), (0, payload), err)
            counts = [m['arguments']['count']
                      for m in sent(f, 'guest-file-read')]
            writes = [len(base64.b64decode(m['arguments']['buf-b64']))
                      for m in sent(f, 'guest-file-write')]
        return counts, writes

    def test_chunks_follow_the_agents_limits(self):
        behave, files = scripted(limits={'max-file-read-count': 1000,
                                         'max-message-bytes': 4000})
        counts, writes = self.run_transfer(behave, files, 5000)
        self.assertEqual(set(counts), {1000})
        # (4000 - 1024 bytes for the rest of the request) / 4 * 3
        self.assertEqual(writes, [2232, 2232, 536])

    def test_chunks_bounded_for_a_generous_agent(self):
        behave, files = scripted(limits={'max-file-read-count': 48 << 20,
                                         'max-message-bytes': 64 << 20})
        counts, writes = self.run_transfer(behave, files, (1 << 20) + 7)
        self.assertEqual(set(counts), {1 << 20})
        self.assertEqual(writes, [1 << 20, 7])

    def test_legacy_agent_gets_64_kib(self):
        behave, files = scripted(negotiate=False)
        counts, writes = self.run_transfer(behave, files, 70000)
        self.assertEqual(set(counts), {65536})
        self.assertEqual(writes, [65536, 70000 - 65536])


class CliExec(unittest.TestCase):
    def test_streams_output_before_the_program_ends(self):
        # The program cannot end before the test writes to the FIFO, and
        # the test writes only after reading the first line from qga.
        d, path = fifo()
        with d, agent('qgad') as a:
            p = subprocess.Popen(
                [QGA_CLI, '-s', a.sock, 'exec', '/bin/sh', '-c',
                 'echo first; echo e1 >&2; read x < "$1"; echo "$x"; '
                 'echo e2 >&2; exit 5', 'sh', path],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            try:
                got = b''
                while b'first\n' not in got:
                    r, _, _ = select.select([p.stdout], [], [], LINE_TIMEOUT)
                    self.assertTrue(r, 'no output before the program ended')
                    chunk = os.read(p.stdout.fileno(), 4096)
                    self.assertTrue(chunk, 'qga ended early')
                    got += chunk
                with open(path, 'wb') as w:
                    w.write(b'hello\n')
                out, err = p.communicate(timeout=LINE_TIMEOUT)
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        self.assertEqual((p.returncode, got + out, err),
                         (5, b'first\nhello\n', b'e1\ne2\n'))

    def test_same_bytes_streaming_or_not(self):
        prog = ('/bin/sh', '-c', 'i=0; while [ $i -lt 3000 ]; do '
                'echo "line $i"; [ $((i % 7)) = 0 ] && echo "err $i" >&2; '
                'i=$((i+1)); done; printf "\\000\\377no newline"; exit 3')
        kinds = [('qgad', ()), ('qgad', ('--negotiation=off',))]
        if have_qemu_ga:
            kinds.append(('qemu-ga', ()))
        results, jsons = [], []
        for kind, args in kinds:
            with agent(kind, *args) as a:
                results.append(cli(a.sock, 'exec', *prog))
                rc, out, err = cli(a.sock, '--json', 'exec', *prog)
                jsons.append(json.loads(out))
        want_out = b''.join(b'line %d\n' % i for i in range(3000)) + \
            b'\x00\xffno newline'
        want_err = ''.join('err %d\n' % i for i in range(0, 3000, 7))
        for r in results:
            self.assertEqual(r, (3, want_out, want_err))
        for j in jsons[1:]:
            self.assertEqual(j, jsons[0])
        self.assertEqual(base64.b64decode(jsons[0]['out-data']), want_out)

    def test_streamed_output_is_not_capped(self):
        # Past qemu-ga's 16 MiB: the legacy path truncates (and says so),
        # the streamed one does not.
        n = (16 << 20) + 1000
        prog = ('exec', '/bin/sh', '-c', 'head -c %d /dev/zero' % n)
        with agent('qgad') as a:
            rc, out, err = cli(a.sock, '--timeout', '120', *prog)
            rc2, out2, err2 = cli(a.sock, '--timeout', '120', '--no-probe',
                                  *prog)
            # --json holds the output for one final status: capped there
            # as a legacy agent's status would be (CLI_EXEC_JSON_OUTPUT_MAX).
            rc3, out3, _ = cli(a.sock, '--timeout', '120', '--json', *prog)
        self.assertEqual((rc, len(out), err), (0, n, ''))
        self.assertEqual((rc2, len(out2)), (0, 16 << 20))
        self.assertIn('truncated', err2)
        st = json.loads(out3)
        self.assertEqual((rc3, len(base64.b64decode(st['out-data'])),
                          st['out-truncated']), (0, 16 << 20, True))

    def fake_exec(self, **kw):
        behave, _ = scripted(**kw)
        with FakeAgent(behave) as f:
            rc, out, err = cli(f.sock, 'exec', '/bin/x')
            rcj, outj, _ = cli(f.sock, '--json', 'exec', '/bin/x')
            status = sent(f, 'guest-exec-status')
        self.assertEqual((rc, out), (0, b'one\ntwo\n'), err)
        self.assertEqual(json.loads(outj)['out-data'],
                         base64.b64encode(b'one\ntwo\n').decode())
        return status

    def test_incremental_with_a_negotiating_agent(self):
        status = self.fake_exec(chunks=(b'one\n', b'two\n'))
        self.assertTrue(all(m['arguments'].get('incremental')
                            for m in status))
        self.assertTrue(all('exec-oob' in m for m in status))

    def test_agent_without_incremental_falls_back(self):
        # Two runs (plain and --json): each asks once incrementally, is
        # refused, and polls the plain way.
        status = self.fake_exec(incremental=False)
        inc = [bool(m['arguments'].get('incremental')) for m in status]
        self.assertEqual(inc, [True, False, True, False])

    def test_legacy_agent_never_sees_incremental(self):
        status = self.fake_exec(negotiate=False)
        self.assertFalse(any('incremental' in m['arguments']
                             for m in status))
        self.assertFalse(any('exec-oob' in m for m in status))



class CliEvents(unittest.TestCase):
    def test_prints_events_as_json_lines(self):
        greeting = {'QMP': {'version': {'qemu': {'major': 10, 'minor': 2,
                                                 'micro': 0},
                                        'package': 'fake'},
                            'capabilities': ['oob', 'events']}}
        events = (b'{"event": "GUEST_SHUTDOWN", "data": {"mode": "reboot"}, '
                  b'"timestamp": {"seconds": 1, "microseconds": 2}}\n'
                  b'{"event": "AGENT_STOPPING", "data": {"signal": 15}, '
                  b'"timestamp": {"seconds": 3, "microseconds": 4}}\n')

        def behave(msg, conn):
            if msg['execute'] == 'request-negotiation':
                return reply({'return': greeting}, msg)
            if msg['execute'] == 'qmp_capabilities':
                return reply({'return': {}}, msg) + events
            return legacy_behaviour()(msg, conn)
        with FakeAgent(behave) as f:
            rc, out, err = cli(f.sock, 'events', '2')
        self.assertEqual(rc, 0, err)
        lines = [json.loads(x) for x in out.splitlines()]
        self.assertEqual([x['event'] for x in lines],
                         ['GUEST_SHUTDOWN', 'AGENT_STOPPING'])
        self.assertEqual(lines[0]['data'], {'mode': 'reboot'})

    def test_agents_without_events(self):
        kinds = [('qgad', ('--negotiation=off',))]
        if have_qemu_ga:
            kinds.append(('qemu-ga', ()))
        for kind, args in kinds:
            with agent(kind, *args) as a:
                rc, out, err = cli(a.sock, 'events')
            self.assertEqual((rc, out), (1, b''), kind)
            self.assertIn('does not offer events', err)
        with FakeAgent(legacy_behaviour()) as f:
            self.assertEqual(cli(f.sock, 'events')[0], 1)
            self.assertEqual(cli(f.sock, 'events', '0')[0], 2)

    def test_exec_exits_seen_from_another_connection(self):
        # qga events on one connection, qga exec on another: once the
        # watcher has negotiated, the next exec's GUEST_EXEC_EXITED reaches
        # it. Each round runs one more program until it has (bounded).
        with agent('qgad', '--max-clients=2') as a:
            p = subprocess.Popen([QGA_CLI, '-s', a.sock, 'events', '1'],
                                 stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE)
            try:
                for _ in range(200):
                    self.assertEqual(cli(a.sock, 'exec', '/bin/true')[0], 0)
                    if p.poll() is not None:
                        break
                out, err = p.communicate(timeout=LINE_TIMEOUT)
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        self.assertEqual(p.returncode, 0, err)
        ev = json.loads(out)
        self.assertEqual(ev['event'], 'GUEST_EXEC_EXITED')
        self.assertEqual(ev['data']['exitcode'], 0)


class CliFreezeWatchdog(unittest.TestCase):
    def run_fake(self, negotiate, *argv):
        greeting = {'QMP': {'version': {'qemu': {'major': 10, 'minor': 2,
                                                 'micro': 0},
                                        'package': 'fake'},
                            'capabilities': []}}

        def behave(msg, conn):
            name = msg['execute']
            if name == 'request-negotiation' and negotiate:
                return reply({'return': greeting}, msg)
            if name == 'qmp_capabilities' and negotiate:
                return reply({'return': {}}, msg)
            if name.startswith('guest-fsfreeze-freeze'):
                return reply({'return': 2}, msg)
            return legacy_behaviour()(msg, conn)
        with FakeAgent(behave) as f:
            rc, out, err = cli(f.sock, 'fsfreeze', 'freeze', *argv)
            sent = [(m['execute'], m.get('arguments')) for m in f.received
                    if m['execute'].startswith('guest-fsfreeze')]
        return rc, out, err, sent

    def test_thaw_after_sends_the_timeout(self):
        rc, out, err, sent = self.run_fake(True, '--thaw-after', '30')
        self.assertEqual((rc, out), (0, b'2 filesystems\n'), err)
        self.assertEqual(sent, [('guest-fsfreeze-freeze', {'timeout': 30})])
        rc, _, err, sent = self.run_fake(True, '--thaw-after', '5', '/a')
        self.assertEqual(rc, 0, err)
        self.assertEqual(sent, [('guest-fsfreeze-freeze-list',
                                 {'timeout': 5, 'mountpoints': ['/a']})])

    def test_legacy_agent_is_never_frozen_without_the_watchdog(self):
        rc, _, err, sent = self.run_fake(False, '--thaw-after', '30')
        self.assertEqual((rc, sent), (1, []))
        self.assertIn('freeze watchdog', err)
        self.assertEqual(self.run_fake(True, '--thaw-after', '0')[0], 2)
        # Without the option nothing changes for anyone.
        rc, _, _, sent = self.run_fake(False)
        self.assertEqual((rc, sent), (0, [('guest-fsfreeze-freeze', None)]))

if __name__ == '__main__':
    require_built()
    unittest.main(verbosity=2)
