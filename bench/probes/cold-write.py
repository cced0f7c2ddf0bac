"""Agent wall and CPU time per 16 MiB guest-file-write into a new file each
time (as bench/run's write does), on one connection: the new file's
page-cache pages are part of the cost, unlike steady-cpu.py's overwrite.

Usage: cold-write.py AGENT N   (agent and this driver pinned to CPU 1)
With PERF_OUT=FILE, the writes run under `perf record -g -o FILE -p PID`."""
import base64, json, os, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'tests', 'lib'))
import qgatest
from qgaaction import big_line
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from probelib import cpu_ms, perf_start, perf_stop


binary, n = os.path.abspath(sys.argv[1]), int(sys.argv[2])
with qgatest.Agent(binary=binary) as a:
    os.sched_setaffinity(a.proc.pid, {1})
    os.sched_setaffinity(0, {1})
    c = a.connect()
    b64 = base64.b64encode(os.urandom(16 << 20)).decode()
    perf = perf_start(a.proc.pid)
    out = []
    for i in range(n):
        path = os.path.join(a.dir, 'w%d' % i)
        h = c.ok('guest-file-open', {'path': path, 'mode': 'w'})
        req = json.dumps({'execute': 'guest-file-write',
                          'arguments': {'handle': h, 'buf-b64': b64}}).encode()
        c0, t0 = cpu_ms(a.proc.pid), time.perf_counter()
        c.send(req)
        big_line(c)
        out.append('%.1f/%.1f' % ((time.perf_counter() - t0) * 1e3, cpu_ms(a.proc.pid) - c0))
        c.ok('guest-file-close', {'handle': h})
        os.unlink(path)
    perf_stop(perf)
    print('16 MiB write into a new file, wall/agent CPU ms:', ' '.join(out))
