"""The request-negotiation handshake in all three policies and both
session scopes. Against qemu-ga only the old-server half applies: it must
answer request-negotiation with CommandNotFound and the id echoed, which is
how a new client classifies it (docs/protocol.md, "Telling servers apart")."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
from qgatest import Agent, AgentTest, is_qemu_ga, main, require_qgad  # noqa: E402

NEED_NEG = "Expecting capabilities negotiation with 'request-negotiation'"
NEED_CAPS = "Expecting capabilities negotiation with 'qmp_capabilities'"


def negotiate(c, ident='neg-1', enable=None):
    g = c.cmd('request-negotiation', id=ident)
    args = {} if enable is None else {'enable': enable}
    caps = c.cmd('qmp_capabilities', args)
    return g, caps


class OldServerView(AgentTest):
    """What a new client sees first, on either agent."""

    def test_request_negotiation_classifies(self):
        r = self.c.cmd('request-negotiation', id='probe')
        self.assertEqual(r['id'], 'probe')
        if is_qemu_ga():
            self.assertEqual(r['error'], {
                'class': 'CommandNotFound',
                'desc': 'The command request-negotiation has not been found'})
        else:
            qmp = r['return']['QMP']
            self.assertEqual(set(qmp), {'version', 'capabilities'})
            self.assertEqual(set(qmp['version']), {'qemu', 'package'})
            self.assertEqual(set(qmp['version']['qemu']), {'major', 'minor', 'micro'})
            self.assertGreaterEqual(qmp['version']['qemu']['major'], 7)
            self.assertTrue(qmp['version']['package'].startswith('qgad '))
            self.assertIsInstance(qmp['capabilities'], list)


@require_qgad
class Optional(AgentTest):
    agent_args = ('--negotiation=optional',)

    def setUp(self):
        # Each test starts from a clean legacy session.
        self.c.cmd('guest-sync', {'id': 1})

    def test_legacy_client_served(self):
        self.assertEqual(self.c.cmd('guest-ping'), {'return': {}})
        self.c.send('{"execute":"guest-sync","arguments":{"id":1700000000000}}\n')
        self.assertEqual(self.c.line(), b'{"return": 1700000000000}')

    def test_full_handshake(self):
        g, caps = negotiate(self.c)
        self.assertEqual(g['id'], 'neg-1')
        self.assertIn('QMP', g['return'])
        self.assertEqual(caps, {'return': {}})
        self.assertEqual(self.c.cmd('guest-ping', id=1), {'return': {}, 'id': 1})

    def test_caps_twice(self):
        negotiate(self.c)
        r = self.c.cmd('qmp_capabilities')
        self.assertError(r, 'CommandNotFound',
                         'Capabilities negotiation is already complete, command ignored')

    def test_caps_without_request(self):
        self.assertError(self.c.cmd('qmp_capabilities'), 'CommandNotFound', NEED_NEG)

    def test_caps_not_offered(self):
        offered = self.c.ok('request-negotiation')['QMP']['capabilities']
        for cap in ('oob', 'events'):
            if cap in offered:
                continue
            r = self.c.cmd('qmp_capabilities', {'enable': [cap]})
            self.assertError(r, desc='Capability %s not available' % cap)
        # Still negotiating: a correct qmp_capabilities completes it.
        self.assertEqual(self.c.cmd('qmp_capabilities'), {'return': {}})

    def test_caps_unknown_value(self):
        self.c.ok('request-negotiation')
        r = self.c.cmd('qmp_capabilities', {'enable': ['teleport']})
        self.assertError(r, desc="Parameter 'enable[0]' does not accept value 'teleport'")
        r = self.c.cmd('qmp_capabilities', {'enable': 'oob'})
        self.assertError(r, desc="Invalid parameter type for 'enable', expected: array")
        r = self.c.cmd('request-negotiation', {'x': 1})
        self.assertError(r, desc="Parameter 'x' is unexpected")

    def test_half_handshake_then_legacy(self):
        # A new client that sent only request-negotiation, followed by a
        # legacy client on the same channel: the legacy one is served.
        self.c.ok('request-negotiation')
        self.assertEqual(self.c.cmd('guest-ping'), {'return': {}})
        # ... and the abandoned handshake cannot be completed any more.
        self.assertError(self.c.cmd('qmp_capabilities'), 'CommandNotFound', NEED_NEG)

    def test_renegotiate_any_time(self):
        negotiate(self.c)
        g, caps = negotiate(self.c, 'again')
        self.assertEqual(g['id'], 'again')
        self.assertEqual(caps, {'return': {}})

    def test_sync_drops_to_legacy(self):
        negotiate(self.c)
        self.assertEqual(self.c.cmd('guest-sync', {'id': 5}), {'return': 5})
        self.assertError(self.c.cmd('qmp_capabilities'), 'CommandNotFound', NEED_NEG)

    def test_interleaved_syncs(self):
        self.c.ok('request-negotiation')
        self.c.sync(44)
        self.assertError(self.c.cmd('qmp_capabilities'), 'CommandNotFound', NEED_NEG)
        self.assertEqual(self.c.cmd('guest-ping'), {'return': {}})

    def test_legacy_bytes_identical(self):
        # The legacy exchange is byte-for-byte qemu-ga's.
        self.c.send('{"execute":"guest-sync-delimited","arguments":{"id":3}}\n'
                    '{"execute":"guest-ping"}\n{"execute":"nope"}\n')
        self.assertEqual(self.c.line(), b'\xff{"return": 3}')
        self.assertEqual(self.c.line(), b'{"return": {}}')
        self.assertEqual(self.c.line(), b'{"error": {"class": "CommandNotFound", '
                         b'"desc": "The command nope has not been found"}}')

    def test_one_warning_per_legacy_session(self):
        before = self.agent.log_text().count('client did not negotiate')
        self.c.cmd('guest-ping')
        self.c.cmd('guest-ping')
        c2 = None
        # A new connection is a new session: one more warning at most.
        self.c.close()
        c2 = self.agent.connect()
        c2.cmd('guest-ping')
        c2.cmd('guest-ping')
        type(self).c = c2
        time.sleep(0.1)
        after = self.agent.log_text().count('client did not negotiate')
        self.assertLessEqual(after - before, 2)
        self.assertGreaterEqual(after - before, 1)

    def test_nothing_unsolicited(self):
        c = self.c
        self.assertTrue(c.no_reply(0.3))
        negotiate(c)
        self.assertTrue(c.no_reply(0.3))


@require_qgad
class Required(AgentTest):
    agent_args = ('--negotiation=required',)

    def setUp(self):
        self.c.cmd('guest-sync', {'id': 1})

    def test_legacy_refused(self):
        r = self.c.cmd('guest-ping', id='L')
        self.assertError(r, 'CommandNotFound', NEED_NEG)
        self.assertEqual(r['id'], 'L')
        self.assertError(self.c.cmd('guest-info'), 'CommandNotFound', NEED_NEG)

    def test_sync_still_works(self):
        self.assertEqual(self.c.cmd('guest-sync', {'id': 7}), {'return': 7})
        self.c.request('guest-sync-delimited', {'id': 8})
        self.assertEqual(self.c.line(), b'\xff{"return": 8}')

    def test_negotiated_client_served(self):
        negotiate(self.c)
        self.assertEqual(self.c.cmd('guest-ping'), {'return': {}})
        self.assertIn('supported_commands', self.c.ok('guest-info'))

    def test_half_handshake(self):
        self.c.ok('request-negotiation')
        self.assertError(self.c.cmd('guest-ping'), 'CommandNotFound', NEED_CAPS)
        self.assertEqual(self.c.cmd('qmp_capabilities'), {'return': {}})
        self.assertEqual(self.c.cmd('guest-ping'), {'return': {}})

    def test_sync_ends_session(self):
        negotiate(self.c)
        self.c.cmd('guest-sync', {'id': 2})
        self.assertError(self.c.cmd('guest-ping'), 'CommandNotFound', NEED_NEG)

    def test_unknown_command_still_not_found(self):
        r = self.c.cmd('guest-nope')
        self.assertError(r, 'CommandNotFound', 'The command guest-nope has not been found')


@require_qgad
class Off(AgentTest):
    agent_args = ('--negotiation=off',)

    def test_like_old_server(self):
        r = self.c.cmd('request-negotiation', id='p')
        self.assertEqual(r, {'id': 'p', 'error': {
            'class': 'CommandNotFound',
            'desc': 'The command request-negotiation has not been found'}})
        r = self.c.cmd('qmp_capabilities')
        self.assertError(r, 'CommandNotFound', 'The command qmp_capabilities has not been found')

    def test_not_in_info(self):
        names = [c['name'] for c in self.c.ok('guest-info')['supported_commands']]
        self.assertNotIn('request-negotiation', names)
        self.assertNotIn('qmp_capabilities', names)

    def test_no_warning(self):
        self.c.cmd('guest-ping')
        self.assertNotIn('did not negotiate', self.agent.log_text())


@require_qgad
class SessionScope(AgentTest):
    agent_args = ('--negotiation=required',)

    def test_reconnect_ends_session(self):
        negotiate(self.c)
        self.assertEqual(self.c.cmd('guest-ping'), {'return': {}})
        self.c.close()
        c2 = self.agent.connect()
        type(self).c = c2
        self.assertError(c2.cmd('guest-ping'), 'CommandNotFound', NEED_NEG)

    def test_partial_request_does_not_leak_to_next_client(self):
        self.c.send('{"execute":"guest-sync","arguments":')
        self.c.close()
        c2 = self.agent.connect()
        type(self).c = c2
        self.assertEqual(c2.cmd('guest-sync', {'id': 3}), {'return': 3})

    def test_unread_reply_not_delivered_to_next_client(self):
        self.c.send('{"execute":"guest-info"}')
        self.c.close()
        c2 = self.agent.connect()
        type(self).c = c2
        self.assertEqual(c2.cmd('guest-sync', {'id': 4}), {'return': 4})

    def test_config_key(self):
        with open(os.path.join(self.agent.dir, 'neg.conf'), 'w') as f:
            f.write('[general]\nnegotiation=required\n')
        a = Agent(env={'QGA_CONF': os.path.join(self.agent.dir, 'neg.conf')})
        try:
            c = a.connect()
            self.assertError(c.cmd('guest-ping'), 'CommandNotFound', NEED_NEG)
            c.close()
        finally:
            self.assertEqual(a.stop(), 0)
        a = Agent('--negotiation=off', env={'QGA_CONF': os.path.join(self.agent.dir, 'neg.conf')})
        try:
            c = a.connect()
            self.assertEqual(c.cmd('guest-ping'), {'return': {}})
            c.close()
        finally:
            self.assertEqual(a.stop(), 0)


if __name__ == '__main__':
    main()
