#!/usr/bin/env bash
# Makes (once) a Debian trixie chroot with Debian's Swift toolchain (`swiftlang`): Swift 6
# needs a newer glibc than our machines' bookworm, so it runs inside this chroot.
#   scripts/swift-chroot.sh TOOLS_DIR   prints the chroot's path
# Cached under TOOLS_DIR/swift-chroot-<suite>-swiftlang-<version> (about 3 GB, ~11 minutes
# the first time); later runs reuse it. Fails loudly when it cannot be made: never skips.
set -euo pipefail
tools="$1"
suite=trixie
swift_version=6.0.3                      # trixie's swiftlang; the chroot is keyed by it
chroot="$tools/swift-chroot-$suite-swiftlang-$swift_version"
if [ ! -f "$chroot/.chatvault-complete" ]; then
    [ "$(id -u)" -eq 0 ] || { echo "making the Swift chroot needs root (debootstrap, chroot)" >&2; exit 1; }
    if ! command -v debootstrap >/dev/null; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap
    fi
    mkdir -p "$tools"
    rm -rf "$chroot.partial"
    echo "making the Swift chroot ($suite + swiftlang) in $chroot: about 11 minutes, once" >&2
    debootstrap --variant=minbase --include=swiftlang,libc6-dev,ca-certificates \
        "$suite" "$chroot.partial" http://deb.debian.org/debian >"$tools/swift-chroot.log" 2>&1 \
        || { tail -30 "$tools/swift-chroot.log" >&2; echo "debootstrap of the Swift chroot failed" >&2; exit 1; }
    # swiftc finds its libraries relative to its own path, read from /proc (mounted for the
    # check only); /usr/bin/swiftc is a symlink whose $ORIGIN-relative runpath does not
    # resolve, so callers put /usr/libexec/swift/bin first on PATH.
    mount -t proc proc "$chroot.partial/proc"
    got="$(chroot "$chroot.partial" /usr/libexec/swift/bin/swiftc --version 2>&1 | head -1)" || true
    umount "$chroot.partial/proc"
    case "$got" in
        *"Swift version $swift_version"*) ;;
        *) echo "the chroot's swiftc is not Swift $swift_version: $got" >&2; exit 1 ;;
    esac
    touch "$chroot.partial/.chatvault-complete"
    rm -rf "$chroot" && mv "$chroot.partial" "$chroot"
fi
echo "$chroot"
