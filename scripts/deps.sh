#!/bin/sh
# Installs the system packages the build, the tests and `make run` need,
# only those that are missing. Debian; run as root (or with sudo available).
set -eu

need=""
want() { # command package
	command -v "$1" >/dev/null 2>&1 || need="$need $2"
}
want gcc gcc
want qemu-img qemu-utils
want qemu-io qemu-utils
want fusermount3 fuse3
want mkfs.ext4 e2fsprogs
want debugfs e2fsprogs
want zstd zstd
want rsync rsync
want tar tar
want python3 python3
want qemu-system-x86_64 qemu-system-x86
want busybox busybox-static

[ -z "$need" ] && exit 0
pkgs=$(echo $need | tr ' ' '\n' | sort -u | tr '\n' ' ')
echo "deps: installing $pkgs"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get install -y --no-install-recommends $pkgs; then
	$SUDO apt-get update
	$SUDO apt-get install -y --no-install-recommends $pkgs
fi
