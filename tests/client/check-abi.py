#!/usr/bin/env python3
"""The ABI check of libqga: the symbols the shared library exports must be
exactly those listed in src/client/libqga.abi. Adding or removing one is a
deliberate change of that file (and of the soversion when removing)."""
import subprocess
import sys

lib, listing = sys.argv[1], sys.argv[2]
out = subprocess.run(['nm', '-D', '--defined-only', lib], capture_output=True,
                     text=True, check=True).stdout
exported = set()
for line in out.splitlines():
    parts = line.split()
    if len(parts) == 3 and parts[1] in 'TDBR':
        exported.add(parts[2].split('@')[0])
expected = {l.strip() for l in open(listing) if l.strip() and not l.startswith('#')}
missing, extra = sorted(expected - exported), sorted(exported - expected)
for name in missing:
    print('removed from the ABI: %s' % name)
for name in extra:
    print('added to the ABI (update %s): %s' % (listing, name))
print('%d symbols, %s' % (len(exported), 'ABI unchanged' if not (missing or extra) else 'ABI CHANGED'))
sys.exit(1 if missing or extra else 0)
