#!/usr/bin/env python3
"""The ABI check of libqga. Four places must agree:

- the built shared library: its SONAME, the symbols it exports and the
  version node they carry;
- src/client/libqga.abi, the tracked list of exported names;
- src/client/libqga.sym, the linker's version script, whose node names the
  version every symbol carries;
- debian/libqga0.symbols, which dpkg-gensymbols compares with the library
  when the package is built (debian/rules makes any difference fatal).

Adding or removing a symbol is a deliberate change of libqga.abi and
debian/libqga0.symbols (and of the soversion when removing).

usage: check-abi.py LIBRARY LIBQGA.ABI LIBQGA.SYM [LIBQGA0.SYMBOLS]
"""
import re
import subprocess
import sys


def exported(lib):
    """{name: version node} of the defined dynamic symbols, and the nodes
    defined (the absolute symbols named after them)."""
    out = subprocess.run(['nm', '-D', '--defined-only', '--with-symbol-versions',
                          lib], capture_output=True, text=True, check=True).stdout
    syms, nodes = {}, set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) != 3:
            continue
        name, _, version = parts[2].partition('@')
        version = version.lstrip('@')
        if parts[1] == 'A':
            nodes.add(name)
        elif parts[1] in 'TDBRVWiu':
            syms[name] = version
    return syms, nodes


def soname(lib):
    out = subprocess.run(['readelf', '-d', lib], capture_output=True, text=True,
                         check=True).stdout
    m = re.search(r'\(SONAME\)\s+Library soname: \[([^]]+)\]', out)
    return m.group(1) if m else None


def version_nodes(sym):
    """The version nodes a version script defines, in order."""
    text = re.sub(r'/\*.*?\*/|#[^\n]*', '', open(sym).read(), flags=re.S)
    return re.findall(r'(\w+)\s*\{', text)


def debian_symbols(path):
    """(library, package) of the header and {name: version node} of the
    entries of a one-library dpkg symbols file."""
    header, entries = None, {}
    for n, line in enumerate(open(path), 1):
        if not line.strip() or line.startswith('#') or line.startswith('*'):
            continue
        if not line.startswith(' '):
            if header is not None:
                raise SystemExit('%s:%d: a second library; this check knows one' %
                                 (path, n))
            header = line.split()[:2]
            continue
        m = re.match(r' (\S+)@(\S+) \S+$', line.rstrip('\n'))
        if not m:
            raise SystemExit('%s:%d: not "name@VERSION minver": %r' %
                             (path, n, line))
        entries[m.group(1)] = m.group(2)
    return header, entries


def main():
    lib, listing, sym = sys.argv[1:4]
    symbols = sys.argv[4] if len(sys.argv) > 4 else None
    problems = []

    syms, nodes = exported(lib)
    expected = {l.strip() for l in open(listing)
                if l.strip() and not l.startswith('#')}
    for name in sorted(expected - syms.keys()):
        problems.append('removed from the ABI: %s' % name)
    for name in sorted(syms.keys() - expected):
        problems.append('added to the ABI (update %s): %s' % (listing, name))

    script_nodes = version_nodes(sym)
    if len(script_nodes) != 1:
        problems.append('%s defines version nodes %s; this check knows one' %
                        (sym, script_nodes))
    node = script_nodes[0] if script_nodes else None
    if nodes != {node}:
        problems.append('the library defines version nodes %s, %s says %s' %
                        (sorted(nodes), sym, node))
    for name, version in sorted(syms.items()):
        if version != node:
            problems.append('%s carries version %r, not %s' % (name, version, node))

    if symbols:
        header, entries = debian_symbols(symbols)
        lib_soname = soname(lib)
        # Debian's package name for a SONAME: libfoo.so.N is libfooN
        # (libfoo1-N when the name ends in a digit).
        m = re.fullmatch(r'(.+)\.so\.(\d+)', lib_soname or '')
        sep = '-' if m and m.group(1)[-1].isdigit() else ''
        want_header = [lib_soname, m.group(1) + sep + m.group(2) if m else None]
        if header != want_header:
            problems.append('%s: header names %s, the library is %s of package %s' %
                            (symbols, header, *want_header))
        # dpkg-gensymbols lists the version node itself as NODE@NODE.
        want = dict(syms, **{node: node})
        for name in sorted(want.keys() - entries.keys()):
            problems.append('%s lacks %s@%s' % (symbols, name, want[name]))
        for name in sorted(entries.keys() - want.keys()):
            problems.append('%s lists %s, which the library does not export' %
                            (symbols, name))
        for name in sorted(want.keys() & entries.keys()):
            if want[name] != entries[name]:
                problems.append('%s: %s@%s, the library has @%s' %
                                (symbols, name, entries[name], want[name]))

    for p in problems:
        print(p)
    print('%d symbols in %s (%s), %s' % (len(syms), soname(lib),
                                         node, 'ABI CHANGED' if problems else
                                         'ABI unchanged'))
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
