"""Host-side clients for the VM tests, in Python stdlib.

Each client function takes a connected qgatest.Conn (a unix socket to the
agent's chardev) and returns an Outcome. They model the two kinds of client
of the handshake proposal:

  legacy_client  what libvirt and every existing tool do: (0xFF +)
                 guest-sync-delimited, then commands; never negotiates.
  modern_client  sends request-negotiation first, without waiting; on
                 CommandNotFound (an old server, or negotiation off) goes on
                 as a legacy client, else finishes with qmp_capabilities.

  qga_cli        the project's `qga` CLI (its own connection): `qga --json
                 probe` to classify the agent, then `qga ping` and `qga info`.
  qga_cli_legacy `qga --no-probe`: the CLI as a legacy client.

Every client is a function of the agent's socket path (CLIENTS); the CLI
is found at $QGA_CLI, else build/src/cli/qga.
"""
import json
import os
import subprocess

from qgatest import Conn

HERE = os.path.dirname(os.path.abspath(__file__))
QGA_CLI = os.environ.get('QGA_CLI') or os.path.join(
    os.path.dirname(os.path.dirname(HERE)), 'build', 'src', 'cli', 'qga')


class Outcome:
    def __init__(self, kind):
        self.kind = kind          # 'legacy', 'negotiated' or 'old-server'
        self.ok = True            # every command after the handshake worked
        self.transcript = []      # (request name, reply)
        self.greeting = None
        self.probe = None         # the refusal of request-negotiation

    def note(self, name, reply):
        self.transcript.append((name, reply))
        if 'return' not in reply:
            self.ok = False

    def summary(self):
        errs = [r['error'].get('class') for _, r in self.transcript
                if 'error' in r]
        return '%s/%s%s' % (self.kind, 'ok' if self.ok else 'FAIL',
                            (' ' + ','.join(errs)) if errs else '')


def _commands(conn, out):
    for name in ('guest-ping', 'guest-info'):
        out.note(name, conn.cmd(name))
    return out


def legacy_client(conn, delimited=True):
    out = Outcome('legacy')
    if delimited:
        conn.sync(4711)
    else:
        # libvirt: a plain guest-sync with a fresh id, no 0xFF.
        out.note('guest-sync', conn.cmd('guest-sync', {'id': 4711}))
    return _commands(conn, out)


def modern_client(conn):
    conn.request('request-negotiation', id='neg-1')
    r = conn.reply()
    if 'error' in r:
        if r['error'].get('class') != 'CommandNotFound':
            raise AssertionError('request-negotiation: %r' % r)
        out = Outcome('old-server')
        out.probe = r
        return _commands(conn, out)
    out = Outcome('negotiated')
    out.greeting = r
    if r.get('id') != 'neg-1' or 'QMP' not in r.get('return', {}):
        raise AssertionError('request-negotiation reply: %r' % r)
    out.note('qmp_capabilities', conn.cmd('qmp_capabilities'))
    return _commands(conn, out)


def have_cli():
    return os.access(QGA_CLI, os.X_OK)


def _cli(path, *args, timeout=60):
    r = subprocess.run([QGA_CLI, '-s', path, '--timeout', '30'] + list(args),
                       capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def _cli_commands(path, out, extra=()):
    for verb in ('ping', 'info'):
        rc, o, e = _cli(path, *extra, verb)
        out.transcript.append((verb, {'return': o} if rc == 0 else
                               {'error': {'class': 'qga-exit-%d' % rc,
                                          'desc': e.strip()}}))
        if rc != 0:
            out.ok = False
    return out


def qga_cli(path):
    rc, o, e = _cli(path, '--json', 'probe')
    if rc != 0:
        raise AssertionError('qga probe failed (%d): %s' % (rc, e))
    probe = json.loads(o)
    out = Outcome('negotiated' if probe['class'] == 'negotiating'
                  else 'old-server' if probe['class'] == 'legacy'
                  else 'cli-' + probe['class'])
    out.greeting = probe.get('greeting')
    return _cli_commands(path, out)


def qga_cli_legacy(path):
    return _cli_commands(path, Outcome('legacy'), ('--no-probe',))


def _on_conn(fn):
    def client(path):
        c = Conn(path, timeout=30)
        try:
            return fn(c)
        finally:
            c.close()
    client.__name__ = fn.__name__
    return client


# The clients of the compatibility matrix (test_vm.test_compat_matrix), by
# the name its expectations use; each takes the agent's socket path and
# returns an Outcome.
CLIENTS = {'legacy': _on_conn(legacy_client),
           'modern': _on_conn(modern_client),
           'qga-cli': qga_cli,
           'qga-cli-legacy': qga_cli_legacy}
