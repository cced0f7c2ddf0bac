"""Hostile input over the socket (issue 8): malformed and oversized JSON,
clients that vanish mid-request or mid-reply, never read, or flood the
agent. After each case the agent must answer guest-ping, and (qgad) its
RSS and open fds must be back near the baseline taken at the start.

Cases where qemu-ga 7.2 is known to behave differently (it exits on
ECONNRESET, spins while a client does not read, keeps a dead client's
half request, answers an oversized message with an error cascade) are
qgad-only; the rest run against both agents.
"""
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
from qgatest import (AgentTest, b64, is_qemu_ga, main,  # noqa: E402
                     proc_fds, proc_rss_kb, require_qgad, wrapped)

MiB = 1 << 20
# How far above the baseline RSS may be after a case: the limits let one
# message cost a few hundred MiB while it is being read, so anything that
# is kept afterwards shows up well above this.
RSS_SETTLE_S = 5
RSS_SLACK_KB = 24 * 1024
GENERIC = 'GenericError'
# Under valgrind (QGA_AGENT_WRAPPER) the cases that push hundreds of MiB
# through the agent would take many minutes; ASan covers them.
heavy = unittest.skipIf(wrapped(), 'too slow under a wrapper')
# tests/sanitize sets this: ASan's shadow memory and quarantine make RSS
# meaningless, and LeakSanitizer checks the agent's memory at exit instead.
SANITIZED = bool(os.environ.get('QGA_TEST_SANITIZED'))
# Reply timeouts for the big cases stretch under a sanitizer or wrapper.
SLOW = 5 if SANITIZED or wrapped() else 1


class Hostile(AgentTest):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # Warm up the allocator and the code paths before the baseline.
        for i in range(50):
            cls.c.cmd('guest-ping', id=i)
        cls.c.cmd('guest-info')
        cls.base_rss = proc_rss_kb(cls.agent.proc.pid)
        cls.base_fds = proc_fds(cls.agent.proc.pid)

    def setUp(self):
        # A case that left the shared connection mid-message must not
        # poison the next one.
        if self.c is None:
            type(self).c = self.agent.connect()

    def reconnect(self):
        try:
            self.c.close()
        except OSError:
            pass
        type(self).c = self.agent.connect()
        return self.c

    def assertHealthy(self, conn=None, rss=True):
        """The agent answers guest-ping with its id; RSS and fds are back."""
        c = conn or self.c
        c.sync(424242)
        self.assertEqual(c.cmd('guest-ping', id='alive'),
                         {'return': {}, 'id': 'alive'})
        self.assertIsNone(self.agent.proc.poll(), 'agent exited')
        if is_qemu_ga() or wrapped() or SANITIZED or not rss:
            return
        # The agent keeps freed memory for the next chunk of a transfer and
        # gives it back once traffic stops for a second (client.c): wait
        # for that, a few seconds at most, before judging.
        deadline = time.time() + RSS_SETTLE_S
        while (proc_rss_kb(self.agent.proc.pid) > self.base_rss + RSS_SLACK_KB
               and time.time() < deadline):
            time.sleep(0.2)
        self.assertLessEqual(proc_rss_kb(self.agent.proc.pid),
                             self.base_rss + RSS_SLACK_KB, 'RSS grew')
        # Socket inodes differ per client: compare the count.
        self.assertEqual(len(proc_fds(self.agent.proc.pid)), len(self.base_fds),
                         'fd count changed')

    def errors_until_sync(self, c=None):
        """Send a guest-sync and collect every reply before its answer."""
        c = c or self.c
        c.request('guest-sync', {'id': 31337})
        out = []
        while True:
            r = json.loads(c.line(60 * SLOW).lstrip(b'\xff'))
            if r == {'return': 31337}:
                return out
            out.append(r)

    def assertOneError(self, data, desc=None, prefix=None, exact=True):
        self.c.send(data)
        errs = self.errors_until_sync()
        self.assertGreaterEqual(len(errs), 1, 'no error for %r' % data[:80])
        if exact:
            self.assertEqual(len(errs), 1, errs[:4])
        e = errs[0]
        self.assertError(e, GENERIC)
        self.assertNotIn('id', e)
        if desc is not None:
            self.assertEqual(e['error']['desc'], desc)
        if prefix is not None:
            self.assertTrue(e['error']['desc'].startswith(prefix), e)
        return errs

    # ---- malformed JSON ----

    def test_invalid_utf8(self):
        for bad in (b'\x80', b'\xc0\xaf', b'\xed\xa0\x80', b'\xf4\x90\x80\x80',
                    b'\xe2\x82', b'a\xc3', b'\xf8\x88\x80\x80\x80'):
            self.assertOneError(b'{"execute":"guest-ping","id":"' + bad + b'"}',
                                'JSON parse error, invalid UTF-8 sequence in string')
        self.assertHealthy()

    def test_nul_bytes(self):
        # A raw NUL is a lexical error: one stray-token error, and the
        # rest of the message is skipped up to the next structural byte.
        errs = self.assertOneError(b'\x00', prefix='JSON parse error, stray ')
        errs = self.assertOneError(b'{"execute":"guest-ping","id":"a\x00b"}',
                                   prefix='JSON parse error, stray ', exact=False)
        self.assertTrue(all(e['error']['class'] == GENERIC for e in errs))
        # Escaped NUL is a valid character, echoed back escaped.
        r = self.c.cmd('guest-ping', id='a\x00b')
        self.assertEqual(r, {'return': {}, 'id': 'a\x00b'})
        self.assertHealthy()

    def test_nul_in_names(self):
        # "guest-ping\u0000x" is not guest-ping, and "execute\u0000" is
        # not execute: no C-string truncation may change what runs.
        self.c.send(b'{"execute":"guest-ping\\u0000x","id":1}')
        r = self.c.reply()
        self.assertError(r, 'CommandNotFound')
        self.c.send(b'{"execute\\u0000":"guest-ping","id":2}')
        r = self.c.reply()
        self.assertError(r, GENERIC)
        self.assertTrue(r['error']['desc'].startswith("QMP input member 'execute"), r)
        self.c.send(b'{"execute":"guest-sync","arguments":{"id":1,"id\\u0000x":2}}')
        r = self.c.reply()
        self.assertError(r, GENERIC)
        self.assertTrue(r['error']['desc'].startswith("Parameter 'id"), r)
        self.assertTrue(r['error']['desc'].endswith("' is unexpected"), r)
        self.assertHealthy()

    def test_lone_surrogates(self):
        for esc in ('ud800', 'udbff', 'udc00', 'udfff'):
            self.assertOneError(
                b'{"execute":"guest-ping","id":"\\' + esc.encode() + b'"}',
                'JSON parse error, \\%s is not a valid Unicode character' % esc)
        # A low surrogate first, and a high one followed by a non-surrogate.
        self.assertOneError(b'{"execute":"guest-ping","id":"\\udc00\\ud800"}',
                            'JSON parse error, \\udc00 is not a valid Unicode character')
        self.assertOneError(b'{"execute":"guest-ping","id":"\\ud800\\u0041"}',
                            'JSON parse error, \\ud800 is not a valid Unicode character')
        r = self.c.cmd('guest-ping', id='\U0001F600')
        self.assertEqual(r['id'], '\U0001F600')
        self.assertHealthy()

    def test_bad_escapes_and_numbers(self):
        self.assertOneError(b'{"execute":"guest-ping","id":"\\x"}',
                            'JSON parse error, invalid escape sequence in string')
        self.assertOneError(b'{"execute":"guest-ping","id":"\\u12"}',
                            'JSON parse error, \\u12" is not a valid Unicode character')
        # The quoted bytes of a short escape are not UTF-8: the reply must
        # still be a whole error object (it was '{}').
        for tail in (b'\xa7\xa7', b'\xc3', b'\xe2\x82'):
            self.assertOneError(b'{"execute":"guest-ping","id":"\\u00' + tail + b'"}',
                                prefix='JSON parse error, \\u00')
        # A leading zero is a lexical error in qemu's lexer.
        errs = self.assertOneError(b'{"execute":"guest-ping","id":01}',
                                   "JSON parse error, stray '01'", exact=False)
        self.assertEqual(errs[1:], [{'error': {
            'class': GENERIC, 'desc': 'JSON parse error, expecting value'}}])
        self.assertHealthy()

    def test_huge_numbers(self):
        for n in ('1' * 400, '-' + '9' * 400, '18446744073709551616',
                  '-9223372036854775809', '1e400', '1.5e3'):
            self.c.send('{"execute":"guest-sync","arguments":{"id":%s}}' % n)
            self.assertError(self.c.reply(), GENERIC,
                             "Invalid parameter type for 'id', expected: integer")
        for n in ('9223372036854775807', '-9223372036854775808'):
            self.c.send('{"execute":"guest-sync","arguments":{"id":%s}}' % n)
            self.assertEqual(self.c.reply(), {'return': int(n)})
        self.assertHealthy()

    @require_qgad
    def test_huge_numbers_echo_valid_json(self):
        # qemu-ga prints an infinite id as "inf", which is not JSON.
        for n in ('1e400', '-1e400', '1' * 400, '1e-400'):
            self.c.send('{"execute":"guest-ping","id":%s}' % n)
            r = self.c.reply()          # json.loads: must be valid JSON
            self.assertEqual(r['return'], {})
        self.assertHealthy()

    def test_duplicate_keys(self):
        for msg in (b'{"execute":"guest-ping","execute":"guest-info"}',
                    b'{"execute":"guest-sync","arguments":{"id":1,"id":2}}',
                    b'{"execute":"guest-ping","id":{"a":1,"b":{"c":1,"c":2}}}',
                    b"{'execute':'guest-ping',\"execute\":'guest-ping'}"):
            self.assertOneError(msg, 'JSON parse error, duplicate key')
        self.assertHealthy()

    def test_not_requests(self):
        for msg, desc in ((b'[1, 2]', 'QMP input must be a JSON object'),
                          (b'"x"', 'QMP input must be a JSON object'),
                          (b'{"execute": 1}', "QMP input member 'execute' must be a string"),
                          (b'{"execute": "guest-ping", "arguments": []}',
                           "QMP input member 'arguments' must be an object"),
                          (b'{"arguments": {}}', "QMP input lacks member 'execute'"),
                          (b'{"execute": "guest-ping", "exec-oob": "x"}', None)):
            self.c.send(msg + b' ')
            r = self.c.reply()
            self.assertError(r, GENERIC, desc)
        self.assertHealthy()

    # ---- limits ----

    def test_deep_nesting_at_limit(self):
        sys.setrecursionlimit(10000)    # for json.loads of the echo
        ok = b'[' * 1023 + b']' * 1023
        self.c.send(b'{"execute":"guest-ping","id":' + ok + b'}')
        r = self.c.reply()
        self.assertEqual(r['return'], {})
        depth, v = 0, r['id']
        while isinstance(v, list) and v:
            v, depth = v[0], depth + 1
        self.assertEqual(depth, 1022)
        self.assertHealthy()

    def test_deep_nesting_past_limit(self):
        self.c.send(b'[' * 1025)
        self.c.send(b']' * 1025)
        errs = self.errors_until_sync()
        self.assertEqual(errs[0]['error']['desc'],
                         'JSON nesting depth limit exceeded')
        if not is_qemu_ga():
            # qemu-ga answers each stray closing bracket; qgad skips them.
            self.assertEqual(len(errs), 1, errs[:3])
        self.assertHealthy()

    @require_qgad
    @heavy
    def test_deep_nesting_endless(self):
        # Far past the limit and never closed: memory must stay flat.
        chunk = b'{"a":[' * 10000
        for _ in range(100):
            self.c.send(chunk)
        self.c.send(b'\xff')
        errs = self.errors_until_sync()
        self.assertEqual([e['error']['desc'] for e in errs],
                         ['JSON nesting depth limit exceeded',
                          "JSON parse error, stray '\ufffd'"])
        self.assertHealthy()

    @heavy
    def test_string_at_token_limit(self):
        # The whole message's tokens, plus one, may be 64 MiB.
        head, tail = b'{"execute":"guest-ping","id":"', b'"}'
        # tokens: { "execute" : "guest-ping" , "id" : "<s>" }
        fixed = 1 + 9 + 1 + 12 + 1 + 4 + 1 + 2 + 1
        s = b'x' * (64 * MiB - 1 - fixed)
        self.c.send(head + s + tail)
        line = self.c.line(120 * SLOW)
        self.assertTrue(line.startswith(b'{"return": {}, "id": "xxx') or
                        line.startswith(b'{"id": "xxx'), line[:60])
        self.assertEqual(len(line), len(s) + 24)
        del line
        self.assertHealthy()

    # qemu-ga: the rest of the string lexes as new tokens; a later quote
    # opens a string that swallows the following requests.
    @heavy
    @require_qgad
    def test_string_past_token_limit(self):
        head, tail = b'{"execute":"guest-ping","id":"', b'"}'
        s = b'x' * (64 * MiB + 16)
        self.c.send(head + s + tail)
        errs = self.errors_until_sync()
        self.assertEqual(errs[0]['error']['desc'], 'JSON token size limit exceeded')
        if not is_qemu_ga():
            self.assertEqual(len(errs), 1, errs[:3])
        self.assertHealthy()

    @heavy
    @require_qgad
    def test_many_small_tokens_past_limit(self):
        # 2M tokens in one message: the token-count limit.
        body = b'1,' * (1 << 20)
        self.c.send(b'{"execute":"guest-ping","id":[')
        for _ in range(2):
            self.c.send(body)
        self.c.send(b'1]}')
        errs = self.errors_until_sync()
        self.assertEqual(errs[0]['error']['desc'], 'JSON token count limit exceeded')
        if not is_qemu_ga():
            self.assertEqual(len(errs), 1, errs[:3])
        self.assertHealthy()

    # qemu-ga needs minutes for this one (quadratic somewhere).
    @heavy
    @require_qgad
    def test_many_keys_under_limit(self):
        # A big but legal object: 200k members in the arguments.
        members = b','.join(b'"k%d":%d' % (i, i) for i in range(200000))
        self.c.send(b'{"execute":"guest-ping","arguments":{' + members + b'}}')
        r = self.c.reply(60 * SLOW)
        self.assertError(r, GENERIC)
        self.assertTrue(r['error']['desc'].startswith("Parameter 'k"), r)
        self.assertHealthy()

    # ---- clients that misbehave ----

    def test_disconnect_mid_request(self):
        c = self.reconnect()
        c.send(b'{"execute":"guest-sync", "arguments":')
        c.close()
        c = self.reconnect()
        # The documented recovery works on both agents.
        self.assertHealthy(c)

    @require_qgad
    def test_new_client_starts_clean(self):
        c = self.reconnect()
        c.send(b'{"execute":"guest-sync", "arguments": {"id": [[[[')
        c.close()
        c = self.reconnect()
        self.assertEqual(c.cmd('guest-ping', id='B'), {'return': {}, 'id': 'B'})
        self.assertHealthy(c)

    @require_qgad
    def test_disconnect_mid_reply(self):
        # A large reply, and the client goes away before reading it.
        for i in range(5):
            c = self.reconnect()
            c.send(b'{"execute":"guest-ping","id":"' + b'y' * (8 * MiB) + b'"}')
            c.send(b'{"execute":"guest-info"}' * 200)
            time.sleep(0.05 * i)
            c.close()
        c = self.reconnect()
        self.assertHealthy(c)

    @require_qgad
    def test_connection_reset(self):
        # RST instead of FIN: the agent sees ECONNRESET (qemu-ga exits).
        for pending_reply in (False, True):
            c = self.reconnect()
            if pending_reply:
                c.send(b'{"execute":"guest-info"}' * 50)
                time.sleep(0.2)
            else:
                c.send(b'{"execute":"guest-ping", "arg')
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                              struct.pack('ii', 1, 0))
            c.close()
        c = self.reconnect()
        self.assertHealthy(c)

    @require_qgad
    def test_epipe_on_reply(self):
        # The client shuts its read side and keeps writing: every reply
        # write fails with EPIPE; the agent drops the replies, not itself.
        c = self.reconnect()
        c.sock.shutdown(socket.SHUT_RD)
        c.send(b'{"execute":"guest-info"}' * 100)
        time.sleep(0.2)
        c.close()
        c = self.reconnect()
        self.assertHealthy(c)

    @require_qgad
    def test_client_never_reads(self):
        """The agent stops reading a client that does not read, so neither
        side's memory grows; it does not spin meanwhile (qemu-ga loops on
        EAGAIN), and the next client is served."""
        c = self.reconnect()
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        c.sock.settimeout(0.5)
        req = b'{"execute":"guest-ping","id":"' + b'z' * 60000 + b'"}'
        sent = 0
        try:
            while sent < 2048 * MiB:
                c.sock.sendall(req)
                sent += len(req)
        except (socket.timeout, TimeoutError):
            pass
        self.assertLess(sent, 2048 * MiB, 'the agent never stopped reading')
        if wrapped() or SANITIZED:
            c.close()
            return
        rss_blocked = proc_rss_kb(self.agent.proc.pid)
        self.assertLessEqual(rss_blocked, self.base_rss + 64 * 1024,
                             'agent memory grew while the client did not read')
        # Not spinning: the agent uses (almost) no CPU while blocked.
        t0 = cpu_seconds(self.agent.proc.pid)
        time.sleep(1.0)
        self.assertLess(cpu_seconds(self.agent.proc.pid) - t0, 0.3)
        c.close()
        c = self.reconnect()
        self.assertHealthy(c)

    def test_pipelined_flood(self):
        """100k requests in one stream while reading concurrently: every
        reply arrives, in order."""
        n = 5000 if wrapped() else 100000
        c = self.reconnect()
        data = b''.join(b'{"execute":"guest-sync","arguments":{"id":%d}}' % i
                        for i in range(n))
        got = []

        def reader():
            for _ in range(n):
                got.append(json.loads(c.line(60 * SLOW)))
        t = threading.Thread(target=reader)
        t.start()
        c.send(data)
        t.join(300 * SLOW)
        self.assertEqual(len(got), n)
        self.assertEqual([r['return'] for r in got], list(range(n)))
        self.assertHealthy(c)

    def test_garbage_between_requests(self):
        self.c.send(b'garbage \x01 {"execute":"guest-ping","id":1}')
        errs = self.errors_until_sync()
        self.assertIn({'return': {}, 'id': 1}, errs)
        self.assertTrue(all('error' in e for e in errs if e != {'return': {}, 'id': 1}))
        self.assertHealthy()


class FullDisk(AgentTest):
    """guest-file-write onto a full filesystem (a 64 KiB tmpfs): an error,
    never a success that claims bytes the disk did not take. What stdio
    buffers is only reported at the flush (qemu-ga does the same)."""

    @classmethod
    def setUpClass(cls):
        cls.mnt = tempfile.mkdtemp(prefix='qga-full-')
        if os.geteuid() != 0 or subprocess.call(
                ['mount', '-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', cls.mnt],
                stderr=subprocess.DEVNULL) != 0:
            os.rmdir(cls.mnt)
            raise unittest.SkipTest('needs root to mount a small tmpfs')
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            subprocess.call(['umount', cls.mnt])
            os.rmdir(cls.mnt)

    def test_write_past_full(self):
        if not {'guest-file-open', 'guest-file-write'} <= {
                x['name'] for x in self.c.ok('guest-info')['supported_commands']}:
            self.skipTest('no guest-file-write in this agent')
        path = os.path.join(self.mnt, 'f')
        h = self.c.ok('guest-file-open', {'path': path, 'mode': 'w'})
        r = self.c.cmd('guest-file-write',
                       {'handle': h, 'buf-b64': b64(b'x' * 100000)})
        self.assertError(r, GENERIC, contains='No space left on device')
        for size in (1000, 70000, 1):
            r = self.c.cmd('guest-file-write',
                           {'handle': h, 'buf-b64': b64(b'y' * size)})
            if 'return' in r:
                # Never a count other than all of it on success.
                self.assertEqual(r['return']['count'], size)
            else:
                self.assertError(r, GENERIC, contains='No space left on device')
        r = self.c.cmd('guest-file-flush', {'handle': h})
        self.assertError(r, GENERIC, contains='No space left on device')
        self.c.cmd('guest-file-close', {'handle': h})
        self.assertLessEqual(os.path.getsize(path), 64 * 1024)
        self.assertEqual(self.c.cmd('guest-ping', id=1), {'return': {}, 'id': 1})


def cpu_seconds(pid):
    with open('/proc/%d/stat' % pid) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


if __name__ == '__main__':
    main()
