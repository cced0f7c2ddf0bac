"""guest-exec in negotiated sessions (docs/protocol.md §14.2, §14.2.1):
GUEST_EXEC_EXITED to the sessions with events, incremental output and the
streamed cap. The legacy case runs against qemu-ga too: there the argument
does not exist."""
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
from qgatest import AgentTest, b64, is_qemu_ga, main, unb64  # noqa: E402

# The agent's per-stream cap (QGA_EXEC_OUTPUT_MAX).
EXEC_OUTPUT_MAX = 16 << 20
# How long a test waits for something that must happen (not a timing claim).
PATIENCE = 30


def negotiate(c, enable=('events',)):
    c.cmd('request-negotiation', id='n')
    r = c.cmd('qmp_capabilities', {'enable': list(enable)})
    assert r == {'return': {}}, r


def sh(script, capture=True):
    return {'path': '/bin/sh', 'arg': ['-c', script], 'capture-output': capture}


class Legacy(AgentTest):
    def test_incremental_is_unexpected(self):
        pid = self.c.ok('guest-exec', sh('exit 0'))['pid']
        r = self.c.cmd('guest-exec-status', {'pid': pid, 'incremental': True})
        self.assertError(r, desc="Parameter 'incremental' is unexpected")
        self.wait_exited(pid)

    def test_no_event_without_negotiation(self):
        pid = self.c.ok('guest-exec', sh('echo x'))['pid']
        st = self.wait_exited(pid)
        self.assertEqual(unb64(st['out-data']), b'x\n')
        # Nothing unsolicited follows.
        self.assertTrue(self.c.no_reply(0.5))

    def wait_exited(self, pid):
        deadline = time.time() + PATIENCE
        while time.time() < deadline:
            st = self.c.ok('guest-exec-status', {'pid': pid})
            if st['exited']:
                return st
            time.sleep(0.05)
        self.fail('child %d never exited' % pid)


class Negotiated(AgentTest):
    agent_args = ('--max-clients=4',)

    @classmethod
    def setUpClass(cls):
        if is_qemu_ga():
            raise __import__('unittest').SkipTest('qgad only')
        super().setUpClass()

    def setUp(self):
        self.c = self.agent.connect()
        self.tmp = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.c.close()
        self.tmp.cleanup()

    def status(self, pid, **kw):
        """guest-exec-status on self.c, past any events in between."""
        self.c.request('guest-exec-status', dict(pid=pid, **kw))
        while True:
            msg = self.c.reply(timeout=PATIENCE)
            if 'event' not in msg:
                self.assertIn('return', msg)
                return msg['return']

    def next_event(self, conn, name):
        """The next message on conn, which must be the event name."""
        msg = conn.reply(timeout=PATIENCE)
        self.assertEqual(msg.get('event'), name, msg)
        self.assertEqual(set(msg['timestamp']), {'seconds', 'microseconds'})
        return msg['data']

    def fifo(self):
        path = os.path.join(self.tmp.name, 'go')
        os.mkfifo(path)
        return path

    def test_exited_event_then_status(self):
        negotiate(self.c)
        pid = self.c.ok('guest-exec', sh('echo out; echo err >&2; exit 3'))['pid']
        self.assertEqual(self.next_event(self.c, 'GUEST_EXEC_EXITED'),
                         {'pid': pid, 'exitcode': 3})
        # The record is still there, complete, and goes after being read.
        st = self.c.ok('guest-exec-status', {'pid': pid})
        self.assertEqual(st['exited'], True)
        self.assertEqual(st['exitcode'], 3)
        self.assertEqual(unb64(st['out-data']), b'out\n')
        self.assertEqual(unb64(st['err-data']), b'err\n')
        self.assertError(self.c.cmd('guest-exec-status', {'pid': pid}),
                         desc='PID %d does not exist' % pid)

    def test_exited_event_with_signal(self):
        negotiate(self.c)
        pid = self.c.ok('guest-exec', sh('kill -9 $$'))['pid']
        self.assertEqual(self.next_event(self.c, 'GUEST_EXEC_EXITED'),
                         {'pid': pid, 'signal': 9})
        self.assertEqual(self.c.ok('guest-exec-status', {'pid': pid})['signal'], 9)

    def test_event_waits_for_the_output(self):
        # The shell exits at once but a background child keeps stdout open:
        # exited (and the event) only come once the pipe is drained.
        negotiate(self.c)
        go = self.fifo()
        pid = self.c.ok('guest-exec', sh('(read x < %s; echo late) & exit 0' % go))['pid']
        self.assertTrue(self.c.no_reply(0.5))
        self.assertEqual(self.c.ok('guest-exec-status', {'pid': pid}), {'exited': False})
        with open(go, 'w') as f:
            f.write('\n')
        self.assertEqual(self.next_event(self.c, 'GUEST_EXEC_EXITED'),
                         {'pid': pid, 'exitcode': 0})
        self.assertEqual(unb64(self.c.ok('guest-exec-status', {'pid': pid})['out-data']),
                         b'late\n')

    def test_event_reaches_only_sessions_with_events(self):
        negotiate(self.c)
        plain = self.agent.connect()
        noevents = self.agent.connect()
        try:
            self.assertEqual(plain.cmd('guest-ping'), {'return': {}})
            negotiate(noevents, enable=('oob',))
            # Started by another session: events are not per session.
            pid = plain.ok('guest-exec', sh('exit 7'))['pid']
            self.assertEqual(self.next_event(self.c, 'GUEST_EXEC_EXITED'),
                             {'pid': pid, 'exitcode': 7})
            self.assertTrue(plain.no_reply(0.3))
            self.assertTrue(noevents.no_reply(0.3))
            self.assertEqual(plain.ok('guest-exec-status', {'pid': pid})['exitcode'], 7)
        finally:
            plain.close()
            noevents.close()

    def test_incremental_output_before_exit(self):
        negotiate(self.c)
        go = self.fifo()
        pid = self.c.ok('guest-exec', sh(
            'echo first; echo e1 >&2; read x < %s; echo second; echo e2 >&2; exit 4' % go))['pid']
        out = err = b''
        deadline = time.time() + PATIENCE
        while (out, err) != (b'first\n', b'e1\n'):
            self.assertLess(time.time(), deadline, (out, err))
            st = self.c.ok('guest-exec-status', {'pid': pid, 'incremental': True})
            self.assertFalse(st['exited'])
            self.assertEqual(set(st) - {'exited'} <= {'out-data', 'out-truncated',
                                                      'err-data', 'err-truncated'}, True)
            out += unb64(st.get('out-data', ''))
            err += unb64(st.get('err-data', ''))
            self.assertFalse(st.get('out-truncated', False))
            time.sleep(0.02)
        # Nothing twice: what was handed out is gone.
        st = self.c.ok('guest-exec-status', {'pid': pid, 'incremental': True})
        self.assertEqual(st, {'exited': False})
        with open(go, 'w') as f:
            f.write('\n')
        self.next_event(self.c, 'GUEST_EXEC_EXITED')
        st = self.c.ok('guest-exec-status', {'pid': pid, 'incremental': True})
        self.assertEqual(st, {'exited': True, 'exitcode': 4,
                              'out-data': b64(b'second\n'), 'out-truncated': False,
                              'err-data': b64(b'e2\n'), 'err-truncated': False})
        self.assertError(self.c.cmd('guest-exec-status', {'pid': pid}),
                         desc='PID %d does not exist' % pid)

    def test_streamed_output_is_never_truncated(self):
        # Two and a half caps of a known pattern: the child waits while the
        # agent holds a full cap, and every byte arrives once, in order.
        total = EXEC_OUTPUT_MAX * 5 // 2
        negotiate(self.c)
        pid = self.c.ok('guest-exec', {
            'path': '/bin/sh',
            'arg': ['-c', 'yes 0123456789abcdef | head -c %d' % total],
            'capture-output': 'stdout'})['pid']
        got = bytearray()
        first = self.status(pid, incremental=True)
        got += unb64(first.get('out-data', ''))
        # Give the child every chance to run past the cap: it cannot, as
        # nobody collects.
        time.sleep(1)
        deadline = time.time() + PATIENCE * 4
        while True:
            self.assertLess(time.time(), deadline)
            st = self.status(pid, incremental=True)
            data = unb64(st.get('out-data', ''))
            self.assertLessEqual(len(data), EXEC_OUTPUT_MAX)
            self.assertFalse(st.get('out-truncated', False))
            got += data
            if st['exited']:
                break
        self.assertEqual(st['exitcode'], 0)
        self.assertEqual(len(got), total)
        self.assertEqual(bytes(got), (b'0123456789abcdef\n' * (total // 17 + 1))[:total])

    def test_incremental_limits_unchanged_for_the_plain_status(self):
        # Without incremental the old cap holds even in a negotiated session.
        negotiate(self.c)
        pid = self.c.ok('guest-exec', {
            'path': '/bin/sh',
            'arg': ['-c', 'head -c %d /dev/zero' % (EXEC_OUTPUT_MAX + 4096)],
            'capture-output': 'stdout'})['pid']
        self.next_event(self.c, 'GUEST_EXEC_EXITED')
        st = self.c.ok('guest-exec-status', {'pid': pid})
        self.assertEqual(len(unb64(st['out-data'])), EXEC_OUTPUT_MAX)
        self.assertTrue(st['out-truncated'])

    def test_incremental_bad_type(self):
        negotiate(self.c)
        r = self.c.cmd('guest-exec-status', {'pid': 1, 'incremental': 'yes'})
        self.assertError(r, desc="Invalid parameter type for 'incremental', expected: boolean")


if __name__ == '__main__':
    main()
