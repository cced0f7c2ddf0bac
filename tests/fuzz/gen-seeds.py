#!/usr/bin/env python3
"""Write the seed corpus from schema/qga.json: for every command a valid
request built from its argument types, and the near misses the validator
must reject (each mandatory member missing, each member of the wrong type,
an unexpected member, a bad enum value); plus hand-written framing and
handshake sequences. Dispatcher seeds start with the setup byte that
fuzz_dispatch.c reads (policy, block list, frozen).

Usage: gen-seeds.py SCHEMA CORPUS_DIR   (writes CORPUS_DIR/{json,dispatch})
"""
import hashlib
import json
import os
import sys

WRONG = {'str': 1, 'int': 'x', 'uint64': 'x', 'uint16': True, 'bool': 'x',
         'number': 'x', 'any': None}


def member_type(t):
    """A member is its type, or {'type': ..., 'negotiated-only': ...}."""
    return t['type'] if isinstance(t, dict) else t


class Seeds:
    def __init__(self, schema):
        self.s = schema

    def example(self, t, depth=0):
        s = self.s
        t = member_type(t)
        if t.startswith('['):
            return [self.example(t[1:-1], depth + 1)]
        if t == '{}':
            return {}
        if t == 'str':
            return 'x'
        if t in ('int', 'uint64', 'uint16'):
            return 1
        if t == 'bool':
            return True
        if t == 'number':
            return 1.5
        if t == 'any':
            return {'a': [1]}
        if t in s['enums']:
            return s['enums'][t][0]
        if t in s['alternates']:
            first = next(iter(s['alternates'][t].values()))
            return self.example(first, depth + 1)
        if t in s['structs']:
            if depth > 3:
                return {}
            return {k.lstrip('*'): self.example(v, depth + 1)
                    for k, v in s['structs'][t].items()}
        return None

    def wrong(self, t):
        t = member_type(t)
        if t.startswith('['):
            return {'not': 'a list'}
        if t in self.s['enums']:
            return 'no-such-value'
        if t in self.s['structs'] or t == '{}':
            return [1]
        return WRONG.get(t, 3.5)

    def requests(self):
        for cmd in self.s['commands']:
            name = cmd['name']
            args = cmd.get('args', {})
            full = {k.lstrip('*'): self.example(v) for k, v in args.items()}
            yield {'execute': name, 'arguments': full, 'id': name}
            yield {'execute': name}
            yield {'execute': name, 'arguments': dict(full, bogus=1)}
            for k, v in args.items():
                n = k.lstrip('*')
                if not k.startswith('*'):
                    yield {'execute': name,
                           'arguments': {x: y for x, y in full.items() if x != n}}
                yield {'execute': name, 'arguments': dict(full, **{n: self.wrong(v)})}


FRAMING = [
    b'{"execute":"guest-ping"}',
    b'\xff{"execute":"guest-sync-delimited","arguments":{"id":123}}',
    b"{'execute':'guest-sync','arguments':{'id':-9223372036854775808}}",
    b'{"execute":"guest-ping","id":{"a":[1,2.5e3,null,true,"\\u00e9\\ud83d\\ude00"]}}',
    b'{"execute":"guest-ping","execute":"guest-info"}',
    b'{"execute":"guest-ping"} [1,2] 42 "x" true null }',
    b'garbage here {"execute":"guest-ping"}',
    b'{"a":"\\ud800"} {"a":"\\udc00x"} {"a":"\\u0000"}',
    b'{"a":"\x80\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80"}',
    b'{"a":\x00}\x01{"b":1}',
    b'[' * 1025 + b']' * 1025 + b'{"execute":"guest-ping"}',
    b'{"id":123456789012345678901234567890,"n":1e400,"m":-1e-400,"z":-0}',
    b'{"execute":"guest-ping", "arguments": {}, "control": 1}',
    b'{"exec-oob":"guest-ping"}',
    b'{"execute":["guest-ping"]}',
    b'{"execute":"guest-ping","arguments":null}',
    b'{"execute" "guest-ping"} {"execute": } {,} {"a":1,} [1,] {"a"',
    b'{"execute":"guest-ping"}\n' * 8,
    b"{'a\\'b':'c\\/\\b\\f\\n\\r\\t'}",
    b'{"x": tru} {"x": nul} {"x": falsey}',
    # Argument strings the fuzzer's reader defers (fuzz_json.c): plain,
    # single-quoted, escaped, nested, duplicated, after a failure.
    b'{"execute":"guest-file-write","arguments":{"handle":1,"buf-b64":"aGVsbG8gd29ybGQ="}}',
    b"{'arguments':{'path':'/bin/true','arg':['-x'],'env':{'A':'bcdefghij'}},'execute':'guest-exec'}",
    b'{"execute":"x","arguments":{"a":"plain-text","b":"es\\/caped\\n","c":"\xc3\xa9t\xc3\xa9 long"}}',
    b'{"execute":"x","arguments":{"s":"abcdefgh","s":"ijklmnop"}} {"execute":"x","arguments":{"s":"abcdefgh",}}',
    b'{"arguments":{"k\\u0000x":"abcdefghij","":"klmnopqrst"},"arguments":{"z":"uvwxyz0123"}}',
]

HANDSHAKE = [
    [{'execute': 'request-negotiation', 'id': 1},
     {'execute': 'qmp_capabilities', 'arguments': {'enable': ['oob']}},
     {'execute': 'guest-ping'}],
    [{'execute': 'qmp_capabilities'}, {'execute': 'request-negotiation'},
     {'execute': 'guest-sync', 'arguments': {'id': 1}},
     {'execute': 'qmp_capabilities'}, {'execute': 'guest-ping'}],
    [{'execute': 'request-negotiation'}, {'execute': 'request-negotiation'},
     {'execute': 'qmp_capabilities', 'arguments': {'enable': ['events', 'x']}},
     {'execute': 'qmp_capabilities', 'arguments': {'enable': 'oob'}},
     {'execute': 'qmp_capabilities'}, {'execute': 'qmp_capabilities'},
     {'execute': 'guest-info'}],
    [{'execute': 'request-negotiation', 'arguments': {'x': 1}},
     {'execute': 'guest-ping'}, {'execute': 'qmp_capabilities'}],
]


def write(d, data):
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)


def main():
    schema = json.load(open(sys.argv[1]))
    out = sys.argv[2]
    jdir, ddir = os.path.join(out, 'json'), os.path.join(out, 'dispatch')
    for f in FRAMING:
        write(jdir, f)
        for setup in (0, 1, 2, 8):
            write(ddir, bytes([setup]) + f)
    for r in Seeds(schema).requests():
        text = json.dumps(r).encode()
        write(ddir, b'\x00' + text)
    for seq in HANDSHAKE:
        text = b''.join(json.dumps(r).encode() for r in seq)
        for setup in (0, 1, 2, 4, 8, 9):
            write(ddir, bytes([setup]) + text)


if __name__ == '__main__':
    main()
