"""What the probes share: an agent's CPU time, and perf around a run."""
import os
import signal
import subprocess
import time


def cpu_ms(pid):
    """ms on CPU, all threads: schedstat is in ns (stat counts 10 ms ticks,
    too coarse for ~25 ms transfers)."""
    t = 0
    for tid in os.listdir('/proc/%d/task' % pid):
        with open('/proc/%d/task/%s/schedstat' % (pid, tid)) as f:
            t += int(f.read().split()[0])
    return t / 1e6


def perf_start(pid):
    """With PERF_OUT=FILE, `perf record -g -o FILE -p pid` from now on;
    None otherwise. Pass the result to perf_stop."""
    if not os.environ.get('PERF_OUT'):
        return None
    perf = subprocess.Popen(['perf', 'record', '-g', '-o', os.environ['PERF_OUT'],
                             '-p', str(pid)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    return perf


def perf_stop(perf):
    if perf:
        perf.send_signal(signal.SIGINT)
        perf.wait()
