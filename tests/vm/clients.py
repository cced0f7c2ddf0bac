"""Host-side clients for the VM tests, in Python stdlib.

Each client function takes a connected qgatest.Conn (a unix socket to the
agent's chardev) and returns an Outcome. They model the two kinds of client
of the handshake proposal:

  legacy_client  what libvirt and every existing tool do: (0xFF +)
                 guest-sync-delimited, then commands; never negotiates.
  modern_client  sends request-negotiation first, without waiting; on
                 CommandNotFound (an old server, or negotiation off) goes on
                 as a legacy client, else finishes with qmp_capabilities.

Cases driving the `qga` CLI or libqga can be added as further functions
with the same signature once the host library lands.
"""


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
