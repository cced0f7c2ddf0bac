"""The request-negotiation handshake under attack (issue 8): the handshake
commands out of order, repeated, with bad arguments, interleaved with
legacy syncs and across reconnects, under each policy. The invariant
checked throughout: under the optional policy there is no state in which
a legacy request is refused. qgad only (qemu-ga has no handshake)."""
import os
import random
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
from qgatest import AgentTest, is_qemu_ga, main  # noqa: E402

NOT_FOUND = 'CommandNotFound'
GENERIC = 'GenericError'
WANT_NEGOTIATION = "Expecting capabilities negotiation with 'request-negotiation'"
WANT_CAPABILITIES = "Expecting capabilities negotiation with 'qmp_capabilities'"
ALREADY = 'Capabilities negotiation is already complete, command ignored'
ALL_CAPS = ('oob', 'events')


class Handshake(AgentTest):
    def negotiate(self, c=None):
        r = (c or self.c).cmd('request-negotiation', id='n')
        self.assertEqual(r['id'], 'n')
        greeting = r['return']['QMP']
        self.assertIsInstance(greeting['capabilities'], list)
        self.assertIn('qemu', greeting['version'])
        return greeting['capabilities']

    def capabilities(self, enable=None, c=None):
        return (c or self.c).cmd('qmp_capabilities',
                                 None if enable is None else {'enable': enable})

    def ping_ok(self, c=None):
        self.assertEqual((c or self.c).cmd('guest-ping', id='p'),
                         {'return': {}, 'id': 'p'})

    def bad_argument_cases(self, offered):
        """(arguments, desc) pairs that qmp_capabilities must refuse."""
        cases = [({'enable': 'oob'}, "Invalid parameter type for 'enable', expected: array"),
                 ({'enable': [1]}, "Invalid parameter type for 'enable[0]', expected: string"),
                 ({'enable': ['bogus']}, "Parameter 'enable[0]' does not accept value 'bogus'"),
                 ({'enable': None}, "Invalid parameter type for 'enable', expected: array"),
                 ({'x': 1}, "Parameter 'x' is unexpected")]
        for cap in ALL_CAPS:
            if cap not in offered:
                cases.append(({'enable': [cap]}, 'Capability %s not available' % cap))
        return cases


@unittest.skipIf(is_qemu_ga(), 'qgad only')
class Optional(Handshake):
    agent_args = ('--negotiation=optional',)

    def setUp(self):
        self.c.sync()

    def test_capabilities_first(self):
        self.assertError(self.capabilities(), NOT_FOUND, WANT_NEGOTIATION)
        self.ping_ok()

    def test_repeated(self):
        for _ in range(3):
            self.negotiate()
        self.assertEqual(self.capabilities(), {'return': {}})
        for _ in range(3):
            self.assertError(self.capabilities(), NOT_FOUND, ALREADY)
            self.ping_ok()
        # Negotiating again starts over; abandoning it is being legacy.
        self.negotiate()
        self.ping_ok()
        self.assertError(self.capabilities(), NOT_FOUND, WANT_NEGOTIATION)

    def test_bad_arguments(self):
        offered = self.negotiate()
        r = self.c.cmd('request-negotiation', {'x': 1})
        self.assertError(r, GENERIC, "Parameter 'x' is unexpected")
        for args, desc in self.bad_argument_cases(offered):
            self.negotiate()
            self.assertError(self.c.cmd('qmp_capabilities', args), GENERIC, desc)
            # Still negotiating: a good qmp_capabilities completes it ...
            self.assertEqual(self.capabilities(), {'return': {}})
            self.negotiate()
            self.assertError(self.c.cmd('qmp_capabilities', args), GENERIC, desc)
            # ... and a legacy request instead is served.
            self.ping_ok()

    def test_interleaved_syncs(self):
        self.negotiate()
        self.c.sync()
        self.assertError(self.capabilities(), NOT_FOUND, WANT_NEGOTIATION)
        self.ping_ok()
        self.negotiate()
        self.assertEqual(self.capabilities(), {'return': {}})
        self.assertEqual(self.c.cmd('guest-sync', {'id': 5}), {'return': 5})
        self.ping_ok()
        # Pipelined without waiting for replies.
        self.c.send(b'{"execute":"request-negotiation"}'
                    b'{"execute":"guest-sync","arguments":{"id":6}}'
                    b'{"execute":"qmp_capabilities"}'
                    b'{"execute":"guest-ping"}')
        self.assertIn('QMP', self.c.reply()['return'])
        self.assertEqual(self.c.reply(), {'return': 6})
        self.assertError(self.c.reply(), NOT_FOUND, WANT_NEGOTIATION)
        self.assertEqual(self.c.reply(), {'return': {}})

    def test_reconnect_mid_handshake(self):
        c = self.agent.connect()
        self.c.close()
        self.negotiate(c)
        c.close()
        c = self.agent.connect()
        self.ping_ok(c)
        self.assertError(self.capabilities(c=c), NOT_FOUND, WANT_NEGOTIATION)
        type(self).c = c

    def test_random_sequences(self):
        """Any sequence of handshake steps, syncs and junk leaves the
        session serving legacy requests."""
        rng = random.Random(8)
        steps = [
            b'{"execute":"request-negotiation"}',
            b'{"execute":"qmp_capabilities"}',
            b'{"execute":"qmp_capabilities","arguments":{"enable":["oob"]}}',
            b'{"execute":"qmp_capabilities","arguments":{"enable":"x"}}',
            b'{"execute":"request-negotiation","arguments":{"a":1}}',
            b'{"execute":"guest-sync","arguments":{"id":1}}',
            b'{"execute":"guest-sync-delimited","arguments":{"id":1}}',
            b'{"execute":"guest-info"}',
            b'{"execute":"no-such-command"}',
            b'{"execute":"qmp_capabilities","id":[1]}',
            b'[1]', b'\xff', b'{"execute":',
            b'}',
        ]
        for _ in range(300):
            seq = [rng.choice(steps) for _ in range(rng.randint(1, 6))]
            self.c.send(b' '.join(seq) + b'\xff')
            self.c.sync(rng.randint(1, 1 << 62))
            self.ping_ok()


@unittest.skipIf(is_qemu_ga(), 'qgad only')
class Required(Handshake):
    agent_args = ('--negotiation=required',)

    def setUp(self):
        self.c.close()
        type(self).c = self.agent.connect()

    def test_order_enforced(self):
        self.assertError(self.c.cmd('guest-ping'), NOT_FOUND, WANT_NEGOTIATION)
        self.assertError(self.capabilities(), NOT_FOUND, WANT_NEGOTIATION)
        # The syncs always work: they are how a client finds its footing.
        self.assertEqual(self.c.cmd('guest-sync', {'id': 3}), {'return': 3})
        self.negotiate()
        self.assertError(self.c.cmd('guest-ping'), NOT_FOUND, WANT_CAPABILITIES)
        self.assertEqual(self.capabilities(), {'return': {}})
        self.ping_ok()
        self.assertError(self.capabilities(), NOT_FOUND, ALREADY)
        self.ping_ok()

    def test_bad_arguments_keep_negotiating(self):
        offered = self.negotiate()
        for args, desc in self.bad_argument_cases(offered):
            self.assertError(self.c.cmd('qmp_capabilities', args), GENERIC, desc)
            self.assertError(self.c.cmd('guest-ping'), NOT_FOUND, WANT_CAPABILITIES)
        self.assertEqual(self.capabilities(), {'return': {}})
        self.ping_ok()

    def test_new_connection_must_negotiate_again(self):
        self.negotiate()
        self.assertEqual(self.capabilities(), {'return': {}})
        self.c.close()
        type(self).c = self.agent.connect()
        self.assertError(self.c.cmd('guest-ping'), NOT_FOUND, WANT_NEGOTIATION)


@unittest.skipIf(is_qemu_ga(), 'qgad only')
class Off(Handshake):
    agent_args = ('--negotiation=off',)

    def test_handshake_absent(self):
        for name in ('request-negotiation', 'qmp_capabilities'):
            self.assertError(self.c.cmd(name), NOT_FOUND,
                             'The command %s has not been found' % name)
            self.ping_ok()


if __name__ == '__main__':
    main()
