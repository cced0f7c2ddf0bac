#!/usr/bin/env python3
"""Soak (issue 8): a million mixed requests against one agent, pipelined in
windows, over connections that are dropped and re-made, with every reply
checked; the agent's RSS and open fds are sampled at the start (after a
warm-up) and the end and must be flat.

The mix: guest-sync, guest-sync-delimited after a 0xFF reset, guest-ping,
guest-info, the handshake (request-negotiation + qmp_capabilities),
unknown commands, argument errors, JSON errors, an abandoned half request
before a reconnect, and, when the agent registers them, a file cycle
(open/write/seek/read/close in the state directory) and guest-exec plus
guest-exec-status.

Usage: soak.py [--count N] [--window W] [--agent PATH] [--slack-kb K]
Prints one summary line; exits 1 if a reply was wrong or RSS/fds grew.
"""
import argparse
import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
import qgatest  # noqa: E402


def ok(value):
    return lambda r: r.get('return') == value


def has_return(r):
    return 'return' in r


def error(cls='GenericError'):
    return lambda r: r.get('error', {}).get('class') == cls


class Mix:
    """Yields (bytes, [checks]) for one step; one check per reply."""

    def __init__(self, commands, statedir, rng):
        self.rng = rng
        self.commands = commands
        # What guest-info may list: a legacy session's commands, or once the
        # connection has negotiated, those plus the negotiated-only ones.
        self.listings = [commands]
        self.path = os.path.join(statedir, 'soak-file')
        self.steps = [
            (30, self.sync), (10, self.sync_delimited), (20, self.ping),
            (3, self.info), (3, self.handshake), (5, self.unknown),
            (5, self.bad_args), (5, self.json_error),
        ]
        if {'guest-file-open', 'guest-file-write', 'guest-file-read',
                'guest-file-close'} <= commands:
            self.steps.append((5, self.file_cycle))
        if {'guest-exec', 'guest-exec-status'} <= commands:
            self.steps.append((1, self.exec_cycle))
        self.total = sum(w for w, _ in self.steps)

    def next(self):
        x = self.rng.randrange(self.total)
        for w, f in self.steps:
            if x < w:
                return f()
            x -= w
        raise AssertionError

    def sync(self):
        i = self.rng.randrange(-(1 << 63), 1 << 63)
        return (b'{"execute":"guest-sync","arguments":{"id":%d}}' % i, [ok(i)])

    def sync_delimited(self):
        i = self.rng.randrange(1 << 62)
        return (b'\xff{"execute":"guest-sync-delimited","arguments":{"id":%d}}' % i,
                [error(), ok(i)])

    def ping(self):
        return (b'{"execute":"guest-ping","id":"p"}',
                [lambda r: r == {'return': {}, 'id': 'p'}])

    def info(self):
        return (b'{"execute":"guest-info"}',
                [lambda r: {x['name'] for x in r['return']['supported_commands']}
                 in self.listings])

    def handshake(self):
        if 'request-negotiation' not in self.commands:
            return self.ping()
        return (b'{"execute":"request-negotiation"}{"execute":"qmp_capabilities"}'
                b'{"execute":"qmp_capabilities"}',
                [has_return, ok({}), error('CommandNotFound')])

    def unknown(self):
        return (b'{"execute":"no-such-command","id":[1,{"a":null}]}',
                [error('CommandNotFound')])

    def bad_args(self):
        return (b'{"execute":"guest-sync","arguments":{"id":"x","extra":[1,2,3]}}',
                [error()])

    def json_error(self):
        bad = self.rng.choice([b'{"a":"\\ud800"}', b'{"a":1,"a":2}', b'{"a" 1}',
                               b'[1,2', b'["\x80"]'])
        if bad == b'[1,2':
            # The 0xFF resets the reader; its recovery skips non-structural
            # bytes, so every element of the mix starts with { or [.
            return (bad + b'\xff', [error()])
        return (bad, [error()])

    def file_cycle(self):
        # Each step is one round trip: the handle comes from the reply.
        return ('file', None)

    def exec_cycle(self):
        return ('exec', None)


def run_file_cycle(c, path, rng):
    h = c.ok('guest-file-open', {'path': path, 'mode': 'w+'})
    data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 512)))
    w = c.ok('guest-file-write', {'handle': h, 'buf-b64': qgatest.b64(data)})
    assert w['count'] == len(data), w
    c.ok('guest-file-seek', {'handle': h, 'offset': 0, 'whence': 'set'})
    r = c.ok('guest-file-read', {'handle': h, 'count': 4096})
    assert qgatest.unb64(r['buf-b64']) == data, r
    c.ok('guest-file-close', {'handle': h})
    return 5


def run_exec_cycle(c):
    pid = c.ok('guest-exec', {'path': '/bin/true'})['pid']
    for _ in range(1000):
        s = c.ok('guest-exec-status', {'pid': pid})
        if s['exited']:
            return 2
        time.sleep(0.001)
    raise AssertionError('guest-exec of /bin/true never exited')


def snapshot(pid):
    return qgatest.proc_rss_kb(pid), len(qgatest.proc_fds(pid))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--count', type=int, default=1000000)
    ap.add_argument('--window', type=int, default=500)
    ap.add_argument('--reconnect-every', type=int, default=20000)
    ap.add_argument('--slack-kb', type=int, default=2048)
    ap.add_argument('--agent', default=qgatest.AGENT)
    ap.add_argument('--seed', type=int, default=1)
    a = ap.parse_args()
    # The agent runs in its temporary directory: a relative path would not
    # name it there.
    a.agent = os.path.abspath(a.agent)
    qgatest.AGENT = a.agent
    rng = random.Random(a.seed)
    with qgatest.Agent(binary=a.agent) as agent:
        pid = agent.proc.pid
        # One client at a time (the default): list the commands of both
        # session kinds on a first connection, then soak on a new one.
        c = agent.connect()
        commands = {x['name'] for x in c.ok('guest-info')['supported_commands']}
        mix = Mix(commands, agent.statedir, rng)
        if 'request-negotiation' in commands:
            c.ok('request-negotiation')
            c.ok('qmp_capabilities')
            mix.listings.append({x['name'] for x in
                                 c.ok('guest-info')['supported_commands']})
        c.close()
        c = agent.connect()
        # Warm-up: one full window of every kind before the baseline.
        for _ in range(2000):
            c.cmd('guest-ping')
        rss0, fds0 = snapshot(pid)
        peak = rss0
        t0 = time.time()
        done = wrong = since_reconnect = 0
        while done < a.count:
            batch, checks = [], []
            while len(batch) < a.window and done + len(checks) < a.count:
                data, ch = mix.next()
                if data == 'file':
                    done += run_file_cycle(c, mix.path, rng)
                    continue
                if data == 'exec':
                    done += run_exec_cycle(c)
                    continue
                batch.append(data)
                checks.extend(ch)
            c.send(b''.join(batch))
            for check in checks:
                raw = c.line(60)
                try:
                    good = check(json.loads(raw.lstrip(b'\xff')))
                except (KeyError, TypeError, ValueError):
                    good = False
                if not good:
                    wrong += 1
                    if wrong <= 5:
                        print('wrong reply: %r' % raw[:200])
            done += len(checks)
            since_reconnect += len(checks)
            if since_reconnect >= a.reconnect_every:
                # Leave half a request behind, then come back.
                c.send(b'{"execute":"guest-sync","arguments":{"id":')
                c.close()
                c = agent.connect()
                since_reconnect = 0
                peak = max(peak, qgatest.proc_rss_kb(pid))
        c.close()
        time.sleep(0.2)
        c = agent.connect()
        c.cmd('guest-ping')
        rss1, fds1 = snapshot(pid)
        elapsed = time.time() - t0
        c.close()
        status = agent.stop()
    flat = rss1 <= rss0 + a.slack_kb and fds1 == fds0
    print('soak: %d requests (%d wrong) in %.0f s against %s; mix: %s; '
          'RSS %d -> %d KiB (peak %d), fds %d -> %d; exit status %s: %s' % (
              done, wrong, elapsed, os.path.basename(a.agent),
              ', '.join(f.__name__ for _, f in mix.steps),
              rss0, rss1, peak, fds0, fds1, status,
              'PASS' if flat and not wrong and status == 0 else 'FAIL'))
    sys.exit(0 if flat and not wrong and status == 0 else 1)


if __name__ == '__main__':
    main()
