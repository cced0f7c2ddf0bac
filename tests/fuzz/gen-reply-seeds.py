#!/usr/bin/env python3
"""Write the seed corpus of fuzz_reply.c: what agents really send (replies
captured from qemu-ga 7.2 and qgad over a unix socket, qemu 2.12's and
pre-4.0's id-less answers, a QMP monitor's greeting and events), scripted
with the harness's control bytes (see fuzz_reply.c), plus garbage, 0xFF
lines and stale replies.

Usage: gen-reply-seeds.py CORPUS_DIR   (writes CORPUS_DIR/reply)
"""
import hashlib
import os
import sys

# fuzz_reply.c's script bytes.
DELIVER, TIME, RESYNC, ID, SYNC, EOF = b'\x01', b'\x02', b'\x04', b'\x05', b'\x07', b'\x08'
STALL = b'\x0b'
PROBE, NO_PROBE, NO_IDS, WANT_CAPS = 0, 1, 2, 3


def call(name=0, no_success=False, forever=False):
    return b'\x03' + bytes([name | (4 if no_success else 0) | (8 if forever else 0)])


def idk(k):
    return b'\x06' + bytes([k])


PING, INFO, SHUTDOWN, SYNC_CALL = 0, 1, 2, 3


def with_id(text, ident=ID):
    """A reply line echoing ident, in the member order agents use."""
    return text.replace(b'@ID@', ident) + b'\n'


# qgad 0.1.0 and qemu-ga 7.2.22, captured.
QGAD_GREETING = with_id(
    b'{"return": {"QMP": {"version": {"qemu": {"major": 10, "minor": 2, "micro": 0}, '
    b'"package": "qgad 0.1.0"}, "capabilities": []}}, "id": "@ID@"}')
QGAD_GREETING_CAPS = with_id(
    b'{"return": {"QMP": {"version": {"qemu": {"major": 10, "minor": 2, "micro": 0}, '
    b'"package": "qgad 0.1.0"}, "capabilities": ["oob", "events"]}}, "id": "@ID@"}')
QGAD_CAPS_OK = with_id(b'{"return": {}, "id": "@ID@"}')
QGAD_CAPS_ERR = with_id(b'{"id": "@ID@", "error": {"class": "GenericError", '
                        b'"desc": "Capability events not available"}}')
QEMU_GA_NO_NEGOTIATION = with_id(
    b'{"id": "@ID@", "error": {"class": "CommandNotFound", '
    b'"desc": "The command request-negotiation has not been found"}}')
PONG = with_id(b'{"return": {}, "id": "@ID@"}')
PONG_NO_ID = b'{"return": {}}\n'
INFO_QEMU_GA = with_id(
    b'{"return": {"version": "7.2.22", "supported_commands": [{"enabled": true, '
    b'"name": "guest-get-cpustats", "success-response": true}, {"enabled": true, '
    b'"name": "guest-shutdown", "success-response": false}, {"enabled": false, '
    b'"name": "guest-exec", "success-response": true}]}, "id": "@ID@"}')
INFO_QGAD = with_id(
    b'{"return": {"version": "10.2.0", "supported_commands": [{"name": "qmp_capabilities", '
    b'"enabled": true, "success-response": true}, {"name": "request-negotiation", '
    b'"enabled": true, "success-response": true}]}, "id": "@ID@"}')
OSINFO = with_id(
    b'{"return": {"kernel-release": "6.18.44-fc-v782", "kernel-version": '
    b'"#1 SMP PREEMPT_DYNAMIC @0", "machine": "x86_64", "id": "debian", "name": '
    b'"Debian GNU/Linux", "pretty-name": "Debian GNU/Linux 12 (bookworm)", '
    b'"version": "12 (bookworm)", "version-id": "12"}, "id": "@ID@"}')
UNEXPECTED = with_id(b'{"id": "@ID@", "error": {"class": "GenericError", '
                     b'"desc": "Parameter \'x\' is unexpected"}}')
NOT_FOUND_INT_ID = (b'{"id": 7, "error": {"class": "CommandNotFound", '
                    b'"desc": "The command no-such has not been found"}}\n')
PARSE_ERROR = (b'{"error": {"class": "GenericError", '
               b'"desc": "JSON parse error, stray \'\\uFFFD\'"}}\n')
SENTINEL = b'\xff{"return": ' + SYNC + b'}\n'
TIME_NO_ID = b'{"return": 1795601718000958000}\n'
EXEC_EXITED = (b'{"event": "GUEST_EXEC_EXITED", "data": {"pid": 391, "exitcode": 0}, '
               b'"timestamp": {"seconds": 1795590000, "microseconds": 12}}\n')
STOPPING = (b'{"event": "AGENT_STOPPING", "data": {"signal": 15}, '
            b'"timestamp": {"seconds": 1795590000, "microseconds": 12}}\n')
# qemu 2.12 (no id echo) and before 4.0 (rejects the id member).
NOT_FOUND_2_12 = (b'{"error": {"class": "CommandNotFound", '
                  b'"desc": "The command request-negotiation has not been found"}}\n')
ID_REJECTED = (b'{"error": {"class": "GenericError", '
               b'"desc": "QMP input object member \'id\' is unexpected"}}\n')
# A QEMU QMP monitor.
QMP_GREETING = (b'{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, '
                b'"package": "Debian 1:7.2+dfsg-7"}, "capabilities": ["oob"]}}\n')
QMP_EXPECTING = with_id(b'{"id": "@ID@", "error": {"class": "CommandNotFound", '
                        b'"desc": "Expecting capabilities negotiation with \'qmp_capabilities\'"}}')
QMP_STOP = (b'{"timestamp": {"seconds": 1795590000, "microseconds": 12}, '
            b'"event": "STOP"}\n')

SEEDS = [
    # qgad: negotiation, capabilities, calls, an event.
    (PROBE, QGAD_GREETING + DELIVER + QGAD_CAPS_OK + call(PING) + PONG +
     call(INFO) + INFO_QGAD),
    (WANT_CAPS, QGAD_GREETING_CAPS + DELIVER + QGAD_CAPS_OK + call(PING) +
     EXEC_EXITED + PONG + STOPPING + call(SHUTDOWN, no_success=True) + EOF),
    (WANT_CAPS, QGAD_GREETING_CAPS + DELIVER + QGAD_CAPS_ERR),
    # qemu-ga 7.2: legacy with ids; pipelined calls answered out of order.
    (PROBE, QEMU_GA_NO_NEGOTIATION + call(PING) + PONG + call(INFO) + INFO_QEMU_GA +
     call(PING) + UNEXPECTED + NOT_FOUND_INT_ID + TIME_NO_ID),
    (PROBE, QEMU_GA_NO_NEGOTIATION + call(PING) + call(INFO) + call(PING) +
     with_id(b'{"return": {}, "id": "@ID@"}', idk(1)) +
     with_id(b'{"return": {}, "id": "@ID@"}', idk(0)) + INFO_QEMU_GA.replace(ID, idk(2))),
    (NO_PROBE, call(PING) + call(INFO) + PONG + OSINFO.replace(ID, idk(1))),
    # qemu-ga after a stale sync by someone else: history, a parse error.
    (PROBE, PONG_NO_ID + b'\xff' + PARSE_ERROR + QEMU_GA_NO_NEGOTIATION +
     call(PING) + b'\xff\xff' + PONG),
    # Silence: the client resyncs, then probes again.
    (PROBE, TIME + b'garbage before the sentinel\n' + SENTINEL + DELIVER +
     QGAD_GREETING + DELIVER + QGAD_CAPS_OK),
    (PROBE, TIME + b'\xff{"return": 1}\n' + TIME + TIME + SENTINEL + DELIVER +
     NOT_FOUND_2_12),
    # qemu 2.12 and pre-4.0: no ids, strict ordering, resync after a timeout.
    (PROBE, NOT_FOUND_2_12 + call(PING) + PONG_NO_ID + call(INFO) + TIME +
     call(PING) + DELIVER + SENTINEL + DELIVER + PONG_NO_ID),
    (PROBE, ID_REJECTED + call(PING) + PARSE_ERROR + PONG_NO_ID + RESYNC + SENTINEL),
    (NO_IDS, call(PING) + call(SYNC_CALL) + PONG_NO_ID + b'{"return": 5}\n' +
     b'{"return": {}, "id": ""}\n' + call(SHUTDOWN, no_success=True) + TIME),
    (NO_IDS, call(SHUTDOWN, no_success=True) + EOF),
    # A QMP monitor.
    (PROBE, QMP_GREETING + QMP_EXPECTING + DELIVER + QGAD_CAPS_OK + QMP_STOP +
     call(PING) + PONG),
    (PROBE, TIME + QMP_GREETING + DELIVER + QGAD_CAPS_OK),
    # Resync of a negotiated session renegotiates.
    (PROBE, QGAD_GREETING + DELIVER + QGAD_CAPS_OK + RESYNC + SENTINEL + DELIVER +
     QGAD_GREETING + DELIVER + QGAD_CAPS_OK + call(PING) + PONG),
    # Lines split across reads, CRLF, NULs, bad UTF-8, odd numbers and ids.
    (PROBE, b'{"id": "' + ID + DELIVER + b'", "error": {"class": "Comm' + DELIVER +
     b'andNotFound", "desc": "x"}}\r\n' + call(PING) + b'{"return": {}, "id": "' +
     ID + b'"}' + DELIVER + b'\n'),
    (NO_PROBE, call(PING) + b'{"return": {}, "id": "' + ID + b'\x00"}\n' +
     b'{"return": "\xc0\xaf\xed\xa0\x80", "id": "' + ID + b'"}\n'),
    (NO_PROBE, call(PING) + b'{"return": 1e400, "id": "' + ID + b'"}\n' +
     b'{"return": 123456789012345678901234567890, "id": "' + ID + b'"}\n'),
    (NO_PROBE, call(PING) + b'{"return": {}, "id": "' + ID + b'", "id": 1}\n' +
     b'{"return": {}, "id": ["' + ID + b'"]}\n' + b'[' * 2000 + b']' * 2000 + b'\n' +
     b'{"return": {}, "error": {"class": "x"}, "id": "' + ID + b'"}\n'),
    (PROBE, b'{"error": null, "id": "' + ID + b'"}\n{"error": {"class": 1}}\n' +
     b'{"return": {"QMP": []}, "id": "' + ID + b'"}\n'),
    (PROBE, b'\xff' * 64 + b'\n\n\n\r\n' + b'[1,2,3]\n"x"\nnull\n{}\n' + EOF),
    (PROBE, b'{"return": {}, "id": "' + ID + b'"' + EOF),
    # Long stalls: the handshake and a resync run out of time.
    (PROBE, STALL + call(PING)),
    (PROBE, QGAD_GREETING + DELIVER + STALL),
    (NO_IDS, call(PING) + TIME + call(PING) + DELIVER + STALL),
]


def write(d, data):
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)


def main():
    out = os.path.join(sys.argv[1], 'reply')
    for setup, script in SEEDS:
        write(out, bytes([setup]) + script)


if __name__ == '__main__':
    main()
