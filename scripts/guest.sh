#!/bin/sh
# Builds what a box VM boots: Debian 12's cloud kernel and an initramfs whose
# /init is the boxlite agent, with the virtio modules it loads and a static
# busybox (for debugging: boot with rdinit=/bin/sh).
#
# usage: scripts/guest.sh OUTDIR    writes OUTDIR/vmlinuz and OUTDIR/initrd.img
#
# Idempotent: the kernel package is downloaded once into a cache
# ($BOXLITE_GUEST_CACHE, default ~/.cache/boxlitefs/guest) and the outputs are
# rewritten only when an input (kernel, modules, busybox, agent) changed.
set -eu

out=${1:?usage: scripts/guest.sh OUTDIR}
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${BOXLITE_GUEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/boxlitefs/guest}
meta=linux-image-cloud-amd64
# Everything the agent needs that the cloud kernel builds as a module.
modules="virtio virtio_ring virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk virtio_console"

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo

log() { echo "guest: $*" >&2; }
die() { log "$*"; exit 1; }

# The versioned package the meta package points at, e.g. linux-image-6.1.0-48-cloud-amd64.
kernel_package() {
	apt-cache depends "$meta" 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-cloud-amd64\)$/\1/p' | head -n 1
}

# Prints the path of the cached kernel .deb, downloading it when the cache
# lacks the version apt currently resolves. A failed download retries after
# refreshing apt's lists; with no mirror at all, any cached kernel will do.
kernel_deb() {
	mkdir -p "$cache"
	pkg=$(kernel_package)
	if [ -z "$pkg" ]; then
		$SUDO apt-get update -qq >&2 || true
		pkg=$(kernel_package)
	fi
	if [ -n "$pkg" ]; then
		found=$(ls "$cache/${pkg}"_*.deb 2>/dev/null | tail -n 1)
		[ -n "$found" ] && { echo "$found"; return; }
		mkdir -p "$work/dl"
		for try in 1 2 3; do
			# Downloaded aside and renamed in, so a concurrent build never reads half a file.
			if (cd "$work/dl" && apt-get download "$pkg" >&2 2>/dev/null); then
				for f in "$work/dl/${pkg}"_*.deb; do mv -f "$f" "$cache/"; done
				ls "$cache/${pkg}"_*.deb | tail -n 1
				return
			fi
			log "download of $pkg failed (try $try); refreshing apt lists"
			$SUDO apt-get update -qq >&2 || true
			sleep "$try"
		done
	fi
	found=$(ls "$cache"/linux-image-*-cloud-amd64_*.deb 2>/dev/null | tail -n 1)
	[ -n "$found" ] || die "cannot download $meta's kernel and none is cached in $cache"
	log "using cached $found"
	echo "$found"
}

command -v busybox >/dev/null 2>&1 || die "busybox missing (apt-get install busybox-static)"
busybox=$(command -v busybox)
# A dynamically linked busybox (package busybox) would not run in the initramfs.
if command -v readelf >/dev/null 2>&1 && readelf -l "$busybox" | grep -q 'program interpreter'; then
	die "$busybox is dynamically linked; install busybox-static"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
deb=$(kernel_deb)

# The kernel and the modules, extracted once per package into the cache.
kdir=$cache/$(basename "$deb" .deb)
for f in vmlinuz $modules; do
	[ -f "$kdir/$f" ] || [ -f "$kdir/$f.ko" ] && continue
	[ -d "$work/pkg" ] || dpkg -x "$deb" "$work/pkg"
	if [ "$f" = vmlinuz ]; then
		src=$(ls "$work/pkg/boot/vmlinuz-"* | head -n 1) dst=vmlinuz
	else
		src=$(find "$work/pkg/lib/modules" -name "$f.ko" | head -n 1) dst=$f.ko
	fi
	[ -n "$src" ] || die "$dst not found in $deb"
	mkdir -p "$kdir"
	cp "$src" "$kdir/.$dst.$$" && mv -f "$kdir/.$dst.$$" "$kdir/$dst"
done

stage=$work/initramfs
mkdir -p "$stage/bin" "$stage/lib/modules" "$stage/dev" "$stage/proc" "$stage/sys" "$stage/mnt" "$stage/tmp"
for m in $modules; do
	cp "$kdir/$m.ko" "$stage/lib/modules/"
done
cp "$busybox" "$stage/bin/busybox"
ln -s busybox "$stage/bin/sh"
(cd "$root" && CGO_ENABLED=0 ${GO:-go} build -trimpath -ldflags='-s -w' -o "$stage/init" ./cmd/boxlite-agent)
cp "$kdir/vmlinuz" "$work/vmlinuz"

# The stamp names every input, so an unchanged tree leaves the outputs (and
# their mtimes) alone; cpio archives are not byte-reproducible by themselves.
stamp=$( (cd "$stage" && find . -type f | LC_ALL=C sort | xargs sha256sum; sha256sum "$work/vmlinuz" | cut -d' ' -f1) | sha256sum | cut -d' ' -f1)
mkdir -p "$out"
if [ -f "$out/vmlinuz" ] && [ -f "$out/initrd.img" ] && [ "$(cat "$out/.stamp" 2>/dev/null)" = "$stamp" ]; then
	exit 0
fi

(cd "$stage" && find . | LC_ALL=C sort | busybox cpio -o -H newc 2>/dev/null) | gzip -9 -n >"$work/initrd.img"
# Rename into place so a reader never sees a half-written file.
for f in vmlinuz initrd.img; do
	cp "$work/$f" "$out/.$f.$$"
	mv -f "$out/.$f.$$" "$out/$f"
done
echo "$stamp" >"$out/.stamp"
log "built $out/vmlinuz and $out/initrd.img ($(basename "$deb"))"
