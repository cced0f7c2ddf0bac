#!/usr/bin/env python3
"""Allocation-failure injection (issue 8): for each scenario, run it once
per N = 1, 2, 3... with the Nth allocation after the client connects
failing (tests/faults/failalloc.c, LD_PRELOAD), until a run completes
without reaching N. Every run must give a whole reply per request, either
exactly the reply of a run without faults or an error object: never a
crash, a hang, silence or a partial answer (a guest-info missing a
command would be a lie); and
afterwards the agent must still answer guest-ping. At the end the agent
must exit 0 on SIGTERM with its fd count unchanged.

Usage: run-faults.py SHIM [SCENARIO...]   (env QGA_AGENT: the agent)
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
import qgatest  # noqa: E402

# name -> (bytes to send, number of replies expected)
SCENARIOS = {
    'ping': (b'{"execute":"guest-ping","id":"p"}', 1),
    'sync-delimited': (b'\xff{"execute":"guest-sync-delimited","arguments":{"id":7},"id":[1]}', 2),
    'info': (b'{"execute":"guest-info"}', 1),
    'json-error': (b'{"execute":"guest-ping","id":"\\ud800"} {"a":01}', 3),
    'arg-error': (b'{"execute":"guest-sync","arguments":{"id":"x","y":[1]}}', 1),
    'bad-request': (b'{"execute":"guest-ping","bogus":{"a":[1,2]}} [1] {"execute":"nope"}', 3),
    'handshake': (b'{"execute":"request-negotiation","id":1}'
                  b'{"execute":"qmp_capabilities","arguments":{"enable":["oob"]}}'
                  b'{"execute":"qmp_capabilities"}', 3),
    'pipelined': (b'{"execute":"guest-sync","arguments":{"id":1}}' * 5, 5),
    # Replies that differ run by run (a new handle, a pid) are checked by
    # shape; a leaked fd shows in the count at the end.
    'file-open': (b'{"execute":"guest-file-open","arguments":{"path":"faults-f","mode":"w+"}}', 1),
    'exec': (b'{"execute":"guest-exec","arguments":{"path":"/bin/true"}}', 1),
}
# Scenarios whose success value changes between runs: name -> check.
VARIES = {
    'file-open': lambda r: isinstance(r.get('return'), int),
    'exec': lambda r: isinstance(r.get('return', {}).get('pid'), int),
}
# Commands a scenario needs; it is skipped when the agent lacks them.
NEEDS = {'file-open': 'guest-file-open', 'exec': 'guest-exec'}
REPLY_TIMEOUT = float(os.environ.get('QGA_FAULT_TIMEOUT', '10'))
# Seconds the agent's fd count may take to come back after the last client.
FD_SETTLE = 10


def check_reply(raw):
    """A whole reply: a JSON object with return or error (class/desc)."""
    r = json.loads(raw.lstrip(b'\xff'))
    if not isinstance(r, dict) or ('return' in r) == ('error' in r):
        raise AssertionError('malformed reply %r' % raw[:200])
    if 'error' in r:
        e = r['error']
        if e.get('class') not in ('GenericError', 'CommandNotFound') or \
                not isinstance(e.get('desc'), str):
            raise AssertionError('malformed error %r' % raw[:200])
    return r


def run(shim, names):
    tmp = tempfile.TemporaryDirectory(prefix='qga-faults-')
    ctl = os.path.join(tmp.name, 'ctl')
    log = os.path.join(tmp.name, 'fired')
    env = {'LD_PRELOAD': os.path.abspath(shim), 'QGA_FAILALLOC_CTL': ctl,
           'QGA_FAILALLOC_LOG': log}
    failures = []
    with qgatest.Agent(env=env) as agent:
        pid = agent.proc.pid
        fds0 = len(qgatest.proc_fds(pid))
        c = agent.connect()
        commands = {x['name'] for x in c.ok('guest-info')['supported_commands']}
        c.close()
        for name in names:
            if NEEDS.get(name, 'guest-ping') not in commands:
                print('%-15s skipped: the agent has no %s' % (name, NEEDS[name]))
                continue
            data, nreplies = SCENARIOS[name]
            with open(ctl, 'w') as f:
                f.write('0\n')
            c = agent.connect()
            c.send(data)
            expected = [check_reply(c.line(REPLY_TIMEOUT)) for _ in range(nreplies)]
            c.close()
            n = 0
            while True:
                n += 1
                with open(ctl, 'w') as f:
                    f.write('%d\n' % n)
                if os.path.exists(log):
                    os.unlink(log)
                c = agent.connect()
                what = '%s N=%d' % (name, n)
                try:
                    c.send(data)
                    failed_before = False
                    for want in expected:
                        got = check_reply(c.line(REPLY_TIMEOUT))
                        # The handshake is stateful: after an earlier step
                        # failed for want of memory, a later step may
                        # legitimately succeed where it would not have.
                        if name == 'handshake' and failed_before and got == {'return': {}}:
                            continue
                        failed_before = failed_before or 'error' in got
                        if name in VARIES:
                            if 'error' not in got and not VARIES[name](got):
                                raise AssertionError('wrong answer %r' % got)
                        elif got != want and 'error' not in got:
                            raise AssertionError('wrong answer %r, not %r' %
                                                 (got, want))
                except Exception as e:   # noqa: BLE001 - report and go on
                    failures.append('%s: %s: %s' % (what, type(e).__name__, e))
                c.close()
                fired = os.path.exists(log)
                with open(ctl, 'w') as f:
                    f.write('0\n')
                if agent.proc.poll() is not None:
                    failures.append('%s: agent died (status %d)' %
                                    (what, agent.proc.returncode))
                    return failures, n
                c = agent.connect()
                try:
                    c.sync()
                    r = c.cmd('guest-ping', id='after')
                    if r != {'return': {}, 'id': 'after'}:
                        failures.append('%s: then guest-ping gave %r' % (what, r))
                except Exception as e:   # noqa: BLE001
                    failures.append('%s: then guest-ping: %s: %s' %
                                    (what, type(e).__name__, e))
                c.close()
                if not fired:
                    print('%-15s %4d allocations, each failed once' % (name, n - 1))
                    break
        if 'guest-file-close' in commands:
            # Handles are never reused: close every one that may exist.
            c = agent.connect()
            for h in range(1000, 1000 + 4000, 100):
                for k in range(h, h + 100):
                    c.request('guest-file-close', {'handle': k})
                for k in range(100):
                    c.line(REPLY_TIMEOUT)
            c.close()
        # Clients and exec pipes close a moment after their last reply
        # (later on a loaded machine); a leak stays however long we wait.
        deadline = time.time() + FD_SETTLE
        while True:
            fds1 = len(qgatest.proc_fds(pid))
            if fds1 == fds0 or time.time() > deadline:
                break
            time.sleep(0.1)
        if fds1 != fds0:
            failures.append('fd count %d -> %d' % (fds0, fds1))
        agent.proc.send_signal(signal.SIGTERM)
        try:
            rc = agent.proc.wait(30)
        except subprocess.TimeoutExpired:
            rc = 'hung'
        if rc != 0:
            failures.append('agent exit status %s' % rc)
    return failures, 0


def main():
    shim = sys.argv[1]
    names = sys.argv[2:] or list(SCENARIOS)
    qgatest.skip_unless_agent()
    failures, _ = run(shim, names)
    for f in failures:
        print('FAIL', f)
    print('%d failures' % len(failures))
    sys.exit(1 if failures else 0)


if __name__ == '__main__':
    main()
