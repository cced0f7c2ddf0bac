"""libqga and the capabilities a negotiating agent offers (issue 10): calls
out of band (QGA_CALL_OOB) and replies out of order, events through
qga_wait_event(), and qga_get_limits(). Each against qgad with the
capability enabled, and against sessions that must never see it: qgad
without the capability, qgad --negotiation=off, a legacy client of qgad,
and the real qemu-ga.

A "long in-band command" is guest-file-open of a FIFO for reading: the
agent's open(2) blocks until the test opens the FIFO for writing, so the
order of events is decided by the test, never by a clock."""
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clienttest import (CHECK, FakeAgent, agent, check,  # noqa: E402
                        legacy_behaviour, need_qemu_ga, reply, require_built)

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


def release(path):
    """Open the FIFO for writing (meeting the agent's blocked reader) and
    close it at once: the agent's open(2) returns."""
    os.close(os.open(path, os.O_WRONLY))


def blocked_open(path):
    return 'send:guest-file-open:' + json.dumps({'path': path, 'mode': 'r'})


class OutOfBand(unittest.TestCase):
    def test_oob_ping_overtakes_a_blocked_in_band_command(self):
        d, path = fifo()
        with d, agent('qgad') as a:
            run = Lines(a.sock, blocked_open(path), 'sendoob:guest-ping',
                        'drain', opts=('-c', 'oob'))
            try:
                self.assertEqual(run.next()['rc'], 0)       # connect
                self.assertEqual(run.next()['seq'], 1)      # the open
                queued = run.next()
                self.assertEqual((queued['seq'], queued['oob']), (2, True))
                # The open cannot finish before release(): whatever
                # completes now was answered out of band, out of order.
                first = run.next()
                self.assertEqual((first['op'], first['seq']),
                                 ('completed', 2), first)
                self.assertEqual(first['reply']['return'], {})
                release(path)
                second = run.next()
                self.assertEqual(second['seq'], 1)
                self.assertIsInstance(second['reply']['return'], int)
                self.assertEqual(run.next()['left'], 0)
            finally:
                run.close()

    def in_band_in_order(self, sock, opts):
        d, path = fifo()
        with d:
            run = Lines(sock, blocked_open(path), 'sendoob:guest-ping',
                        'drain', opts=opts)
            try:
                run.next()
                run.next()
                self.assertFalse(run.next()['oob'])
                release(path)
                self.assertEqual([run.next()['seq'], run.next()['seq']],
                                 [1, 2])
            finally:
                run.close()

    def test_without_the_capability_qgad_keeps_order(self):
        with agent('qgad') as a:
            self.in_band_in_order(a.sock, ('-c', 'events'))

    def test_legacy_client_of_qgad_keeps_order(self):
        with agent('qgad') as a:
            self.in_band_in_order(a.sock, ('-N',))

    def test_negotiation_off_falls_back_to_execute(self):
        # exec-oob would be an error here; the flag must be ignored.
        with agent('qgad', '--negotiation=off') as a:
            res = check(a.sock, 'oobavail:guest-ping', 'oob:guest-ping',
                        opts=('-c', 'oob'))
            self.in_band_in_order(a.sock, ('-c', 'oob'))
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

    def test_legacy_agent_is_not_asked(self):
        with FakeAgent(legacy_behaviour()) as f:
            self.legacy(f.sock)
            names = [m['execute'] for m in f.received]
        self.assertNotIn('qga-get-limits', names)


if __name__ == '__main__':
    require_built()
    unittest.main(verbosity=2)
