#!/bin/sh
# Install what the VM tests need on a Debian 12 machine (run as root, e.g.
# from .ci/run). Idempotent. With --libvirt, also libvirt (for the libvirt
# scenarios; they skip without it).
set -eu
pkgs="qemu-system-x86 busybox-static cpio kmod e2fsprogs python3 qemu-guest-agent"
case "${1:-}" in
--libvirt) pkgs="$pkgs libvirt-daemon-system libvirt-clients libvirt-daemon-driver-qemu" ;;
esac
export DEBIAN_FRONTEND=noninteractive
missing=
for p in $pkgs; do
	dpkg-query -W -f '${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
	apt-get -o DPkg::Lock::Timeout=300 update -q
	apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends $missing
fi
# Fetch and cache the guest kernel now (apt-get download + dpkg-deb -x into
# ~/.cache/qga-vm, or $QGA_VM_CACHE), so the tests need no network.
python3 "$(dirname "$0")/vmlib.py" fetch-kernel
