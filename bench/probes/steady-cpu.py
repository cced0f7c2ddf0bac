"""Agent CPU per 16 MiB guest-file-read or -write in steady state (after two
warm-up transfers on the same connection, so the heap is warm): the
agent's own cost without the VM's first-touch page faults.

Usage: steady-cpu.py AGENT read|write N   (agent pinned to CPU 1)
With PERF_OUT=FILE, the measured transfers run under
`perf record -g -o FILE -p AGENT_PID` (read with perf report -i FILE)."""
import os, sys, json, base64
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'tests', 'lib'))
import qgatest
from qgaaction import big_line
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from probelib import cpu_ms, perf_start, perf_stop
binary, mode, n = os.path.abspath(sys.argv[1]), sys.argv[2], int(sys.argv[3])
with qgatest.Agent(binary=binary) as a:
    os.sched_setaffinity(a.proc.pid, {1})
    c = a.connect()
    p = os.path.join(a.dir, 'data'); data = os.urandom(16 << 20); open(p, 'wb').write(data)
    h = c.ok('guest-file-open', {'path': p, 'mode': 'r+'})
    req = json.dumps({'execute': 'guest-file-write', 'arguments': {'handle': h, 'buf-b64': base64.b64encode(data).decode()}}).encode()
    rreq = json.dumps({'execute': 'guest-file-read', 'arguments': {'handle': h, 'count': 16 << 20}}).encode()
    seek = json.dumps({'execute': 'guest-file-seek', 'arguments': {'handle': h, 'offset': 0, 'whence': 'set'}}).encode()
    def one():
        c.send(seek); c.line(); c.send(req if mode == 'write' else rreq); big_line(c)
    one(); one()
    perf = perf_start(a.proc.pid)
    t = cpu_ms(a.proc.pid)
    for i in range(n): one()
    perf_stop(perf)
    print(mode, 'agent CPU per 16 MiB, steady: %.1f ms' % ((cpu_ms(a.proc.pid) - t) / n))
