"""Idle memory of agents from /proc/PID/smaps_rollup after start-up,
guest-info and one ping (as bench/run's idle RSS): medians of 5 starts.

Usage: idle-rss.py AGENT...   (kB)"""
import os, sys, time, statistics
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'tests', 'lib'))
import qgatest
def rollup(pid):
    d = {}
    for l in open('/proc/%d/smaps_rollup' % pid):
        p = l.split()
        if len(p) >= 3 and p[2] == 'kB': d[p[0].rstrip(':')] = int(p[1])
    return d
res = {}
AGENTS = [os.path.abspath(b) for b in sys.argv[1:]]
for rnd in range(5):
    for b in AGENTS:
        with qgatest.Agent(binary=b) as a:
            c = a.connect(); c.ok('guest-info'); c.ok('guest-ping'); time.sleep(0.05)
            r = rollup(a.proc.pid)
            res.setdefault(b, []).append((r['Rss'], r['Pss'], r['Private_Dirty'], r['Anonymous']))
            c.close()
for b, v in res.items():
    print(os.path.basename(b), 'median Rss %d Pss %d Private_Dirty %d Anon %d kB' % tuple(statistics.median(x[i] for x in v) for i in range(4)))
