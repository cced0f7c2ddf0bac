"""Peak RSS of an agent during guest-file-read of 16, 48 and again 16 MiB
(VmHWM after clear_refs 5), against its RSS just before each read.

Usage: read-peak.py AGENT   (kB)"""
import os, sys, time, json
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'tests', 'lib'))
import qgatest
from qgaaction import big_line
def hwm(pid):
    for l in open('/proc/%d/status' % pid):
        if l.startswith('VmHWM'): return int(l.split()[1])
with qgatest.Agent(binary=os.path.abspath(sys.argv[1])) as a:
    c = a.connect()
    pid = a.proc.pid
    c.ok('guest-info')
    for mib in (16, 48, 16):
        n = mib << 20
        p = os.path.join(a.dir, 'f')
        with open(p, 'wb') as f: f.write(os.urandom(n))
        h = c.ok('guest-file-open', {'path': p})
        time.sleep(1.2)
        base = qgatest.proc_rss_kb(pid)
        open('/proc/%d/clear_refs' % pid, 'w').write('5')
        c.request('guest-file-read', {'handle': h, 'count': n})
        r = json.loads(big_line(c))
        peak = hwm(pid)
        print(mib, 'MiB: base', base, 'peak', peak, 'delta MiB %.1f' % ((peak - base) / 1024), r['return']['count'])
        c.ok('guest-file-close', {'handle': h})
