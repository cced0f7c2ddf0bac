"""Check replies against schema/qga.json: every member's name and JSON
type, required members present, optional members absent rather than
null, no unknown members.

    errors = check(value, 'GuestOSInfo')       # [] when it conforms
    check_return(testcase, 'guest-get-vcpus', reply_value)
"""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMA_PATH = os.path.join(os.path.dirname(os.path.dirname(HERE)),
                           'schema', 'qga.json')

with open(SCHEMA_PATH) as _f:
    SCHEMA = json.load(_f)

COMMANDS = {c['name']: c for c in SCHEMA['commands']}

INT64 = (-(1 << 63), (1 << 63) - 1)
UINT64 = (0, (1 << 64) - 1)
UINT16 = (0, (1 << 16) - 1)


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _members(fields):
    """{name: (type, optional)} of a struct's schema fields."""
    return {k.lstrip('*'): (t, k.startswith('*')) for k, t in fields.items()}


def check(value, t, path='$'):
    """A list of 'path: problem' strings; empty when value is a t."""
    errs = []
    if t.startswith('['):
        if not isinstance(value, list):
            return ['%s: expected a list of %s, got %r' % (path, t[1:-1], value)]
        for i, v in enumerate(value):
            errs += check(v, t[1:-1], '%s[%d]' % (path, i))
        return errs
    if t == 'str':
        ok = isinstance(value, str)
    elif t == 'bool':
        ok = isinstance(value, bool)
    elif t == 'number':
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif t in ('int', 'uint64', 'uint16'):
        lo, hi = {'int': INT64, 'uint64': UINT64, 'uint16': UINT16}[t]
        ok = _is_int(value) and lo <= value <= hi
    elif t == 'any':
        ok = True
    elif t == '{}':
        ok = value == {}
    elif t in SCHEMA['enums']:
        ok = value in SCHEMA['enums'][t]
    elif t in SCHEMA['alternates']:
        branches = SCHEMA['alternates'][t]
        ok = any(not check(value, bt) for bt in branches.values())
    elif t in SCHEMA['structs']:
        if not isinstance(value, dict):
            return ['%s: expected object %s, got %r' % (path, t, value)]
        members = _members(SCHEMA['structs'][t])
        for name, (mt, optional) in members.items():
            if name not in value:
                if not optional:
                    errs.append('%s: %s lacks required member %r' %
                                (path, t, name))
                continue
            if value[name] is None:
                errs.append('%s.%s: optional member is null (must be absent)'
                            % (path, name))
                continue
            errs += check(value[name], mt, '%s.%s' % (path, name))
        for name in value:
            if name not in members:
                errs.append('%s: unknown member %r in %s' % (path, name, t))
        return errs
    else:
        raise KeyError('type %r is not in the schema' % t)
    if not ok:
        errs.append('%s: expected %s, got %r' % (path, t, value))
    return errs


def returns_of(command):
    return COMMANDS[command].get('returns')


def check_return(tc, command, value):
    """Assert (in unittest.TestCase tc) that value is what command returns."""
    errs = check(value, returns_of(command))
    tc.assertEqual(errs, [], '%s reply does not match the schema' % command)
