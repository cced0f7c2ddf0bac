"""libqga's protocol behaviour: classification of every server generation,
resync on silence, stale replies, id-less ordering, timeouts, calls without
a success response, and the non-blocking API. Real agents where one exists
(qgad, qemu-ga 7.2); FakeAgent for the generations nobody ships now."""
import json
import os
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clienttest import (FakeAgent, agent, check, legacy_behaviour,  # noqa
                        need_qemu_ga, reply, require_built)

ETIMEDOUT = -110
ECONNRESET = -104


class Classify(unittest.TestCase):
    def classify(self, sock, opts=()):
        res = check(sock, 'class', 'call:guest-ping', opts=opts)
        self.assertEqual(res[0]['rc'], 0, res)
        self.assertEqual(res[2]['reply'].get('return'), {}, res)
        return res[1]

    def test_qgad_optional(self):
        with agent('qgad') as a:
            r = self.classify(a.sock)
        self.assertEqual(r['class'], 'negotiating')
        self.assertTrue(r['ids'])
        self.assertTrue(r['greeting']['version']['package'].startswith(
            'qgad'))
        self.assertIsInstance(r['greeting']['capabilities'], list)

    def test_qgad_required(self):
        with agent('qgad', '--negotiation=required') as a:
            r = self.classify(a.sock)
        self.assertEqual(r['class'], 'negotiating')

    def test_qgad_off(self):
        with agent('qgad', '--negotiation=off') as a:
            r = self.classify(a.sock)
        self.assertEqual((r['class'], r['ids'], r['greeting']),
                         ('legacy', True, None))

    @need_qemu_ga
    def test_qemu_ga(self):
        with agent('qemu-ga') as a:
            r = self.classify(a.sock)
        self.assertEqual((r['class'], r['ids'], r['greeting']),
                         ('legacy', True, None))

    def test_fd_transport(self):
        with agent('qgad') as a:
            r = self.classify(a.sock, opts=('-F',))
        self.assertEqual(r['class'], 'negotiating')

    def test_legacy_client_mode(self):
        # QGA_OPT_NO_PROBE (+ NO_IDS): libqga as an old client.
        with agent('qgad', '--negotiation=required') as a:
            res = check(a.sock, 'class', 'call:guest-ping', opts=('-N',))
            res2 = check(a.sock, 'call:guest-ping', opts=('-N', '-I'))
        self.assertEqual((res[1]['class'], res[1]['ids']), ('none', True))
        self.assertEqual(res[2]['class'], 'CommandNotFound')
        self.assertEqual(res2[1]['reply'], {'error': {
            'class': 'CommandNotFound', 'desc': "Expecting capabilities "
            "negotiation with 'request-negotiation'"}})

    def test_2_12_ids_ignored(self):
        with FakeAgent(legacy_behaviour(echo=False)) as f:
            res = check(f.sock, 'class', 'call:echo:{"n":1}',
                        'call:echo:{"n":2}')
            sent = list(f.received)
        self.assertEqual(res[1]['class'], 'legacy-2.12')
        self.assertFalse(res[1]['ids'])
        self.assertEqual(res[2]['reply'], {'return': {'n': 1}})
        self.assertEqual(res[3]['reply'], {'return': {'n': 2}})
        # After the probe, no request carries an id.
        self.assertEqual(sent[0].get('execute'), 'request-negotiation')
        self.assertTrue(all('id' not in m for m in sent[1:]), sent)

    def test_pre_4_0_id_rejected(self):
        with FakeAgent(legacy_behaviour(echo=False, reject_id=True)) as f:
            res = check(f.sock, 'class', 'call:echo:{"n":3}')
        self.assertEqual(res[1]['class'], 'legacy-pre-4.0')
        self.assertEqual(res[2]['reply'], {'return': {'n': 3}})

    def test_events_reach_the_callback(self):
        greeting = {'QMP': {'version': {'qemu': {'major': 10, 'minor': 2,
                                                 'micro': 0},
                                        'package': 'fake'},
                            'capabilities': ['events']}}
        event = (b'{"event": "GUEST_TEST", "data": {}, "timestamp": '
                 b'{"seconds": 1, "microseconds": 0}}\n')

        def behave(msg, conn):
            if msg['execute'] == 'request-negotiation':
                return reply({'return': greeting}, msg)
            if msg['execute'] == 'qmp_capabilities':
                return reply({'return': {}}, msg)
            return event + legacy_behaviour()(msg, conn)
        with FakeAgent(behave) as f:
            res = check(f.sock, 'call:guest-ping', 'events',
                        opts=('-c', 'events'))
        self.assertEqual(res[1]['reply']['return'], {})
        self.assertEqual(res[2]['events'], 1)

    def test_slow_qmp_greeting(self):
        # A monitor whose greeting comes after the probe counted as silence.
        greeting = (b'{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, '
                    b'"major": 7}, "package": ""}, "capabilities": []}}\r\n')

        def behave(msg, conn):
            if msg.get('execute') == 'qmp_capabilities':
                return reply({'return': {}}, msg)
            if msg.get('execute') == 'query-version':
                return reply({'return': {'qemu': {'major': 7}}}, msg)
            return reply({'error': {
                'class': 'CommandNotFound', 'desc': "Expecting capabilities "
                "negotiation with 'qmp_capabilities'"}}, msg)
        with FakeAgent(behave, preamble=greeting, preamble_delay=1.3) as f:
            res = check(f.sock, 'class', 'call:query-version')
        self.assertEqual(res[1]['class'], 'qmp')
        self.assertEqual(res[2]['reply']['return'], {'qemu': {'major': 7}})

    def test_negotiation_enables_offered_capabilities_only(self):
        greeting = {'QMP': {'version': {'qemu': {'major': 10, 'minor': 2,
                                                 'micro': 0},
                                        'package': 'fake'},
                            'capabilities': ['oob', 'events']}}

        def behave(msg, conn):
            if msg['execute'] == 'request-negotiation':
                return reply({'return': greeting}, msg)
            if msg['execute'] == 'qmp_capabilities':
                return reply({'return': {}}, msg)
            return legacy_behaviour()(msg, conn)
        with FakeAgent(behave) as f:
            res = check(f.sock, 'class', opts=('-c', 'events', '-c', 'nope'))
            caps = [m for m in f.received
                    if m['execute'] == 'qmp_capabilities']
        self.assertEqual(res[1]['class'], 'negotiating')
        self.assertEqual(res[1]['enabled'], ['events'])
        self.assertEqual(caps[0]['arguments'], {'enable': ['events']})


class Channel(unittest.TestCase):
    def test_stale_replies_and_parse_error_discarded(self):
        # What a virtio-serial channel holds after an earlier client left:
        # replies to its requests, id-less and with ids, and the complaint
        # about its 0xFF.
        stale = (b'{"return": {}, "id": "libqga-00000000-1"}\n'
                 b'{"return": 1234}\n'
                 b'{"error": {"class": "GenericError", "desc": '
                 b'"JSON parse error, stray \'\\ufffd\'"}}\n'
                 b'\xff{"return": 99}\n'
                 b'garbage that is not JSON\n')
        with FakeAgent(legacy_behaviour(), preamble=stale) as f:
            res = check(f.sock, 'class', 'call:echo:{"a":1}',
                        'call:echo:{"a":2}')
        self.assertEqual(res[1]['class'], 'legacy')
        self.assertEqual(res[2]['reply']['return'], {'a': 1})
        self.assertEqual(res[3]['reply']['return'], {'a': 2})

    def test_stale_replies_between_calls(self):
        # Replies meant for someone else arrive just before ours.
        inner = legacy_behaviour()
        junk = (b'{"return": {"stale": 1}}\n'
                b'{"return": {"stale": 2}, "id": "libqga-00000000-7"}\n'
                b'{"return": {"stale": 3}, "id": 7}\n'
                b'{"error": {"class": "GenericError", "desc": '
                b'"JSON parse error, stray \'\\ufffd\'"}}\n')

        def behave(msg, conn):
            out = inner(msg, conn)
            return junk + out if msg['execute'] == 'echo' else out
        with FakeAgent(behave) as f:
            res = check(f.sock, 'call:echo:{"a":1}', 'call:echo:{"a":2}')
        self.assertEqual(res[1]['reply']['return'], {'a': 1})
        self.assertEqual(res[2]['reply']['return'], {'a': 2})

    def test_silence_resync_then_probe(self):
        # The first request is lost (an earlier client left half a message
        # in the agent's parser): libqga resyncs and probes again.
        state = {'n': 0}
        inner = legacy_behaviour()

        def behave(msg, conn):
            state['n'] += 1
            if state['n'] == 1:
                return b''
            return inner(msg, conn)
        with FakeAgent(behave) as f:
            res = check(f.sock, 'class', 'call:guest-ping')
            names = [m['execute'] for m in f.received]
        self.assertEqual(res[1]['class'], 'legacy')
        self.assertEqual(names[:3], ['request-negotiation',
                                     'guest-sync-delimited',
                                     'request-negotiation'])
        self.assertGreaterEqual(res[0]['ms'], 900)

    @need_qemu_ga
    def test_partial_input_left_in_qemu_ga(self):
        # qemu-ga never resets its parser between clients.
        with agent('qemu-ga') as a:
            s = socket.socket(socket.AF_UNIX)
            s.connect(a.sock)
            s.sendall(b'{"execute": "guest-ping", "arguments": {')
            s.close()
            time.sleep(0.2)
            res = check(a.sock, 'class', 'call:guest-ping')
        self.assertEqual(res[0]['rc'], 0, res)
        self.assertEqual(res[1]['class'], 'legacy')
        self.assertEqual(res[2]['reply']['return'], {})

    def test_partial_input_left_in_qgad(self):
        with agent('qgad') as a:
            s = socket.socket(socket.AF_UNIX)
            s.connect(a.sock)
            s.sendall(b'{"execute": "guest-ping", "arguments": {')
            s.close()
            time.sleep(0.2)
            res = check(a.sock, 'class', 'call:guest-ping')
        self.assertEqual(res[1]['class'], 'negotiating')
        self.assertEqual(res[2]['reply']['return'], {})

    def test_mute_server_times_out(self):
        with FakeAgent(lambda msg, conn: b'') as f:
            t0 = time.monotonic()
            res = check(f.sock, 'class', opts=('-t', '2500'))
            elapsed = time.monotonic() - t0
        self.assertEqual(res[0]['rc'], ETIMEDOUT)
        self.assertLess(elapsed, 4.5)
        self.assertGreaterEqual(res[0]['ms'], 2400)

    def test_explicit_resync_renegotiates_qgad(self):
        with agent('qgad', '--negotiation=required') as a:
            res = check(a.sock, 'resync', 'call:guest-ping')
        self.assertEqual(res[1]['rc'], 0)
        self.assertEqual(res[1]['class'], 'negotiating')
        self.assertEqual(res[2]['reply']['return'], {})

    @need_qemu_ga
    def test_explicit_resync_qemu_ga(self):
        with agent('qemu-ga') as a:
            res = check(a.sock, 'resync', 'call:guest-ping')
        self.assertEqual((res[1]['rc'], res[1]['class']), (0, 'legacy'))
        self.assertEqual(res[2]['reply']['return'], {})


class Calls(unittest.TestCase):
    def test_timeout_then_late_reply_dropped_by_id(self):
        beh = legacy_behaviour(late={'guest-ping': 0.6})
        with FakeAgent(beh) as f:
            res = check(f.sock, 'tcall:200:guest-ping', 'sleep:1500',
                        'call:echo:{"x":1}')
        self.assertEqual(res[1]['rc'], ETIMEDOUT)
        self.assertEqual(res[3]['reply']['return'], {'x': 1})

    def test_timeout_without_ids_resyncs(self):
        beh = legacy_behaviour(echo=False, late={'guest-ping': 0.6})
        with FakeAgent(beh) as f:
            res = check(f.sock, 'class', 'tcall:200:guest-ping',
                        'sleep:1500', 'call:echo:{"x":2}')
            names = [m['execute'] for m in f.received]
        self.assertEqual(res[1]['class'], 'legacy-2.12')
        self.assertEqual(res[2]['rc'], ETIMEDOUT)
        # The late {"return": {}} must not be taken for echo's reply.
        self.assertEqual(res[4]['reply']['return'], {'x': 2})
        self.assertEqual(names[-2:], ['guest-sync-delimited', 'echo'])

    def test_no_success_response(self):
        with FakeAgent(legacy_behaviour()) as f:
            res = check(f.sock, 'noreply:300:guest-shutdown:{"mode":"halt"}',
                        'noreply:300:guest-shutdown:{"mode":"bogus"}',
                        'call:guest-ping')
        self.assertEqual((res[1]['rc'], res[1]['reply']), (0, None))
        self.assertGreaterEqual(res[1]['ms'], 280)
        self.assertEqual(res[2]['class'], 'GenericError')
        self.assertEqual(res[3]['reply']['return'], {})

    def test_no_success_response_agent_exits(self):
        def behave(msg, conn):
            if msg['execute'] == 'guest-shutdown':
                conn.shutdown(socket.SHUT_RDWR)
                return b''
            return legacy_behaviour()(msg, conn)
        with FakeAgent(behave) as f:
            res = check(f.sock, 'noreply:5000:guest-shutdown')
        self.assertEqual((res[1]['rc'], res[1]['reply']), (0, None))
        self.assertLess(res[1]['ms'], 4000)

    def test_error_reply_exposes_class_and_desc(self):
        with agent('qgad') as a:
            res = check(a.sock, 'call:guest-no-such-command')
        self.assertTrue(res[1]['is_error'])
        self.assertEqual(res[1]['class'], 'CommandNotFound')

    def test_eof_breaks_client(self):
        def behave(msg, conn):
            if msg['execute'] == 'guest-ping':
                conn.shutdown(socket.SHUT_RDWR)
                return b''
            return legacy_behaviour()(msg, conn)
        with FakeAgent(behave) as f:
            res = check(f.sock, 'call:guest-ping', 'call:echo')
        self.assertEqual(res[1]['rc'], ECONNRESET)
        self.assertEqual(res[2]['rc'], ECONNRESET)


class NonBlocking(unittest.TestCase):
    def async_ok(self, sock, n=20):
        res = check(sock, 'async:%d:guest-ping' % n)
        self.assertEqual(res[0]['rc'], 0, res)
        self.assertTrue(res[0]['queued_before_ready'])
        self.assertEqual((res[0]['done'], res[0]['ok']), (n, n), res)
        return res[0]

    def test_qgad(self):
        with agent('qgad', '--negotiation=required') as a:
            r = self.async_ok(a.sock)
        self.assertEqual(r['class'], 'negotiating')

    @need_qemu_ga
    def test_qemu_ga(self):
        with agent('qemu-ga') as a:
            self.async_ok(a.sock)

    def test_id_less_server_one_at_a_time(self):
        with FakeAgent(legacy_behaviour(echo=False)) as f:
            r = self.async_ok(f.sock, 5)
        self.assertEqual(r['class'], 'legacy-2.12')


# include/libqga.h: the longest reply line libqga takes (without its \n).
QGA_MAX_REPLY_SIZE = 96 << 20


class ReplyLimit(unittest.TestCase):
    """A reply of QGA_MAX_REPLY_SIZE bytes arrives whole (libqga's reader,
    not the agent's 64 MiB message limit, decides); one byte more breaks
    the client with a clear error."""

    def big(self, size):
        def behave(msg, conn):
            if msg.get('execute') != 'big':
                return inner(msg, conn)
            head = b'{"return": "'
            tail = b'", "id": ' + json.dumps(msg['id']).encode() + b'}'
            fill = size - len(head) - len(tail)
            # FakeAgent's 0.1 s socket timeout is for requests; ~100 MB
            # take longer to go out.
            conn.settimeout(None)
            conn.sendall(head + b'x' * fill + tail + b'\n')
            conn.settimeout(0.1)
            return b''
        inner = legacy_behaviour()
        with FakeAgent(behave) as f:
            return check(f.sock, 'call:big', 'call:guest-ping',
                         opts=('-t', '30000'), timeout=120), size

    def test_at_the_limit(self):
        res, size = self.big(QGA_MAX_REPLY_SIZE)
        self.assertEqual(res[1]['rc'], 0)
        frame = '{"return": "", "id": %s}' % json.dumps(res[1]['reply']['id'])
        self.assertEqual(len(res[1]['reply']['return']), size - len(frame))
        self.assertEqual(set(res[1]['reply']['return']), {'x'})
        self.assertEqual(res[2]['reply']['return'], {})

    def test_past_the_limit(self):
        res, _ = self.big(QGA_MAX_REPLY_SIZE + 1)
        self.assertLess(res[1]['rc'], 0)
        self.assertIn('exceeds %d bytes' % QGA_MAX_REPLY_SIZE,
                      res[1]['error'])


if __name__ == '__main__':
    require_built()
    unittest.main(verbosity=2)
