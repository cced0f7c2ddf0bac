"""What a negotiated session gets (docs/protocol.md §14): out-of-band
execution, events, qga-get-limits, several clients at once; and that a
legacy session on the same agent sees none of it. qgad only."""
import json
import os
import stat
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
from qgatest import Agent, AgentTest, is_qemu_ga, main  # noqa: E402

HOOK_SECONDS = 3


def negotiate(c, enable=('oob', 'events')):
    g = c.cmd('request-negotiation', id='n')
    r = c.cmd('qmp_capabilities', {'enable': list(enable)})
    assert r == {'return': {}}, r
    return g['return']['QMP']


class Capabilities(AgentTest):
    @classmethod
    def setUpClass(cls):
        if is_qemu_ga():
            raise __import__('unittest').SkipTest('qgad only')
        # A fsfreeze hook that takes its time: the in-band command that
        # out-of-band requests must overtake.
        cls.hookdir = __import__('tempfile').mkdtemp()
        cls.hook = os.path.join(cls.hookdir, 'hook')
        with open(cls.hook, 'w') as f:
            f.write('#!/bin/sh\nsleep %s\nexit 0\n' % HOOK_SECONDS)
        os.chmod(cls.hook, stat.S_IRWXU)
        cls.agent_args = ('-F' + cls.hook,)
        super().setUpClass()

    def setUp(self):
        self.c.cmd('guest-sync', {'id': 0})

    def test_offered(self):
        g = self.c.ok('request-negotiation')
        self.assertEqual(sorted(g['QMP']['capabilities']), ['events', 'oob'])

    def test_exec_oob_needs_capability(self):
        negotiate(self.c, enable=())
        self.c.send('{"exec-oob": "guest-ping", "id": 1}')
        self.assertError(self.c.reply(), desc="QMP input member 'exec-oob' is unexpected")

    def test_exec_oob_rules(self):
        negotiate(self.c)
        self.c.send('{"exec-oob": "guest-ping", "id": "o1"}')
        self.assertEqual(self.c.reply(), {'return': {}, 'id': 'o1'})
        self.c.send('{"exec-oob": "guest-ping"}')
        self.assertError(self.c.reply(), desc="An out-of-band command requires an 'id'")
        self.c.send('{"exec-oob": "guest-get-osinfo", "id": 2}')
        self.assertError(self.c.reply(), desc='The command guest-get-osinfo does not support OOB')
        self.c.send('{"exec-oob": "guest-ping", "execute": "guest-ping", "id": 3}')
        r = self.c.reply()
        self.assertIn('clashes with', r['error']['desc'])

    def test_oob_overtakes_blocking_command(self):
        negotiate(self.c)
        self.c.send(json.dumps({'execute': 'guest-fsfreeze-freeze-list',
                                'arguments': {'mountpoints': []}, 'id': 'slow'}))
        time.sleep(0.2)
        self.c.send('{"exec-oob": "guest-ping", "id": "fast"}')
        self.c.send('{"exec-oob": "guest-fsfreeze-status", "id": "status"}')
        first = self.c.reply(timeout=10)
        second = self.c.reply(timeout=10)
        self.assertEqual(first, {'return': {}, 'id': 'fast'})
        # The out-of-band replies overtook the in-band one still running.
        self.assertEqual(second, {'return': 'thawed', 'id': 'status'})
        third = self.c.reply(timeout=10)
        self.assertEqual(third, {'return': 0, 'id': 'slow'})

    def test_in_band_order_kept(self):
        # Without exec-oob, replies keep request order even when a
        # blocking command comes first.
        negotiate(self.c)
        self.c.send(json.dumps({'execute': 'guest-fsfreeze-freeze-list',
                                'arguments': {'mountpoints': []}, 'id': 1}) +
                    '{"execute": "guest-ping", "id": 2}')
        self.assertEqual(self.c.reply(timeout=10)['id'], 1)
        self.assertEqual(self.c.reply(timeout=10)['id'], 2)

    def test_legacy_session_strictly_ordered(self):
        self.c.send(json.dumps({'execute': 'guest-fsfreeze-freeze-list',
                                'arguments': {'mountpoints': []}}) +
                    '{"execute": "guest-ping"}')
        self.assertEqual(self.c.reply(timeout=10), {'return': 0})
        self.assertEqual(self.c.reply(timeout=10), {'return': {}})

    def test_limits(self):
        r = self.c.cmd('qga-get-limits')
        self.assertError(r, 'CommandNotFound', 'The command qga-get-limits has not been found')
        names = [x['name'] for x in self.c.ok('guest-info')['supported_commands']]
        self.assertNotIn('qga-get-limits', names)
        negotiate(self.c)
        lim = self.c.ok('qga-get-limits')
        self.assertEqual(lim['max-message-bytes'], 64 << 20)
        self.assertEqual(lim['max-nesting'], 1024)
        self.assertEqual(lim['max-file-read-count'], 48 << 20)
        self.assertEqual(lim['max-exec-output-bytes'], 16 << 20)
        self.assertEqual(lim['max-in-band-queue'], 8)
        self.assertEqual(lim['max-clients'], 1)
        self.assertIn('oob', lim['features'])
        names = [x['name'] for x in self.c.ok('guest-info')['supported_commands']]
        self.assertIn('qga-get-limits', names)

    def test_legacy_sees_nothing(self):
        # A legacy client on an agent whose previous client negotiated.
        negotiate(self.c)
        self.c.cmd('guest-sync', {'id': 1})
        self.c.send('{"exec-oob": "guest-ping", "id": 1}')
        self.assertError(self.c.reply(), desc="QMP input member 'exec-oob' is unexpected")
        self.assertTrue(self.c.no_reply(0.3))


class Events(AgentTest):
    def test_stopping_event_only_to_subscribers(self):
        if is_qemu_ga():
            self.skipTest('qgad only')
        a = Agent('--max-clients=3')
        try:
            sub = a.connect()
            negotiate(sub, enable=('events',))
            plain = a.connect()
            neg = a.connect()
            negotiate(neg, enable=())
            self.assertEqual(plain.cmd('guest-ping'), {'return': {}})
            a.proc.terminate()
            ev = sub.reply(timeout=10)
            self.assertEqual(ev['event'], 'AGENT_STOPPING')
            self.assertEqual(set(ev['timestamp']), {'seconds', 'microseconds'})
            self.assertEqual(ev['data'], {'signal': 15})
            for c in (plain, neg):
                try:
                    line = c.line(2)
                except EOFError:
                    line = b''
                self.assertEqual(line, b'')
        finally:
            self.assertEqual(a.stop(), 0)


class MultiClient(AgentTest):
    def test_default_one_at_a_time(self):
        if is_qemu_ga():
            self.skipTest('qgad only')
        c2 = self.agent.connect()
        c2.request('guest-sync', {'id': 2})
        self.assertTrue(c2.no_reply(0.3))
        c2.close()

    def test_several_sessions(self):
        if is_qemu_ga():
            self.skipTest('qgad only')
        a = Agent('--max-clients=2', '--negotiation=required')
        try:
            c1, c2 = a.connect(), a.connect()
            negotiate(c1)
            # c2 has its own, still legacy, session.
            r = c2.cmd('guest-ping')
            self.assertEqual(r['error']['class'], 'CommandNotFound')
            self.assertEqual(c1.cmd('guest-ping'), {'return': {}})
            self.assertEqual(c1.ok('qga-get-limits')['max-clients'], 2)
            # A third waits until a slot frees.
            c3 = a.connect()
            c3.request('guest-sync', {'id': 3})
            self.assertTrue(c3.no_reply(0.3))
            c1.close()
            self.assertEqual(c3.reply(), {'return': 3})
            for c in (c2, c3):
                c.close()
        finally:
            self.assertEqual(a.stop(), 0)

    def test_bad_option(self):
        if is_qemu_ga():
            self.skipTest('qgad only')
        import subprocess
        from qgatest import AGENT
        for bad in ('0', '65', 'x'):
            p = subprocess.run([AGENT, '--max-clients=' + bad, '-D'], capture_output=True)
            self.assertEqual(p.returncode, 1, bad)


if __name__ == '__main__':
    main()
