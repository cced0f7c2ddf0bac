#!/usr/bin/env python3
"""guest-file-read / guest-file-write cost at 1, 4 and 16 MiB chunks, for
one or more agent binaries (e.g. build/qgad and /usr/sbin/qemu-ga).

Reports the CPU time the agent process spent (utime + stime from
/proc/<pid>/stat) on each phase, which does not depend on how fast this
Python client is, plus wall-clock MiB/s for reference.

    python3 tests/perf/file_throughput.py build/qgad /usr/sbin/qemu-ga
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
from qgatest import Agent, b64  # noqa: E402
from qgaaction import big_line, connect  # noqa: E402


def cpu(pid):
    fields = open('/proc/%d/stat' % pid).read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def run(binary, chunk, total):
    a = Agent(binary=binary)
    try:
        c = connect(a)
        data = os.urandom(total)
        with open(os.path.join(a.dir, 'src'), 'wb') as f:
            f.write(data)
        pid = a.proc.pid
        h = c.ok('guest-file-open', {'path': 'src'})
        c0, t0, got = cpu(pid), time.perf_counter(), b''
        while len(got) < total:
            c.request('guest-file-read', {'handle': h, 'count': chunk})
            got += json.loads(big_line(c))['return']['buf-b64'].encode()
        read_cpu, read_wall = cpu(pid) - c0, time.perf_counter() - t0
        h = c.ok('guest-file-open', {'path': 'dst', 'mode': 'w'})
        reqs = [json.dumps({'execute': 'guest-file-write', 'arguments': {
            'handle': h, 'buf-b64': b64(data[o:o + chunk])}})
            for o in range(0, total, chunk)]
        c0, t0 = cpu(pid), time.perf_counter()
        for q in reqs:
            c.send(q)
            json.loads(big_line(c))
        write_cpu, write_wall = cpu(pid) - c0, time.perf_counter() - t0
        c.ok('guest-file-close', {'handle': h})
        with open(os.path.join(a.dir, 'dst'), 'rb') as f:
            assert f.read() == data, 'written data differs'
        return read_cpu, write_cpu, total / read_wall / 2**20, total / write_wall / 2**20
    finally:
        a.stop()


def main():
    binaries = sys.argv[1:] or [os.path.join(os.path.dirname(__file__), '..', '..',
                                             'build', 'qgad')]
    for mib in (1, 4, 16):
        chunk = mib << 20
        total = max(16 << 20, 2 * chunk)
        for b in binaries:
            rc, wc, rw, ww = run(os.path.abspath(b), chunk, total)
            print('%2d MiB chunks, %2d MiB: %-40s agent CPU read %5.2fs write %5.2fs'
                  '   (wall %5.1f / %5.1f MiB/s)' % (mib, total >> 20, b, rc, wc, rw, ww),
                  flush=True)


if __name__ == '__main__':
    main()
