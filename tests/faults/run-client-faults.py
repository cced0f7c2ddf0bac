#!/usr/bin/env python3
"""libqga under allocation failure: runs client-oom (with failalloc.c
preloaded into it, not into the agent) against a fresh agent, which must
still answer guest-ping afterwards.

Usage: run-client-faults.py SHIM CLIENT_OOM   (env QGA_AGENT: the agent)
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
import qgatest  # noqa: E402


def main():
    shim, prog = sys.argv[1:3]
    with qgatest.Agent() as agent:
        env = dict(os.environ, LD_PRELOAD=shim)
        p = subprocess.run([prog, agent.sock], env=env, timeout=600)
        c = agent.connect()
        alive = c.cmd('guest-ping') == {'return': {}}
        c.close()
    if not alive:
        print('the agent stopped answering')
    sys.exit(0 if p.returncode == 0 and alive else 1)


if __name__ == '__main__':
    main()
