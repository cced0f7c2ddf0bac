"""Helpers for the action-command tests (files, exec, power, time, users,
ssh keys) on top of qgatest.

- ActionTest connects with retries: qemu-ga creates its socket file before
  it listens, so a first connect can be refused.
- big_cmd reads replies of tens of MiB in large chunks joined once, instead
  of re-scanning a growing buffer.
"""
import json
import subprocess
import time

from qgatest import Agent, AgentTest



def connect(agent):
    """agent.connect(); qgatest.Conn itself waits for listen()."""
    return agent.connect()


def shadow_tool(*argv):
    """useradd/userdel, retrying while another test holds the lock."""
    for _ in range(50):
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if r.returncode == 0:
            return
        if b'lock' not in r.stdout:
            raise RuntimeError('%s: %s' % (argv, r.stdout.decode()))
        time.sleep(0.2)
    raise RuntimeError('%s: lock busy' % (argv,))


def big_line(conn, timeout=600):
    """The next reply line, for replies of many megabytes."""
    parts = [conn.buf]
    old = conn.sock.gettimeout()
    conn.sock.settimeout(timeout)
    try:
        while b'\n' not in parts[-1]:
            chunk = conn.sock.recv(8 << 20)
            if not chunk:
                raise EOFError('agent closed the connection')
            parts.append(chunk)
    finally:
        conn.sock.settimeout(old)
    line, conn.buf = b''.join(parts).split(b'\n', 1)
    return line


class ActionTest(AgentTest):
    @classmethod
    def setUpClass(cls):
        cls.agent = Agent(*cls.agent_args, env=cls.agent_env)
        cls.c = connect(cls.agent)

    def big_cmd(self, name, args):
        self.c.request(name, args)
        return json.loads(big_line(self.c).lstrip(b'\xff'))
