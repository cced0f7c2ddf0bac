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
	apt-get update -q
	apt-get install -y -q --no-install-recommends $missing
fi
