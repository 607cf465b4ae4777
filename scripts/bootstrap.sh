#!/usr/bin/env bash
# Idempotent set-up for a Debian 12 machine: installs the Debian packages memgov needs when they are missing,
# adds a deb-src entry only when none exists, and seeds subprojects/packagecache with Debian's jemalloc orig
# tarball (same bytes as the upstream release), checking its sha256.
# Used by scripts/demo.sh, scripts/test.sh and .ci/run. Prints what it does; exits non-zero with a message when
# something cannot be had.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
JE_VERSION=5.3.0
JE_SHA256=2db82d1e7119df3e71b7640219b6dfe84789bc0537983c3b7ac4f7189aecfeaa
JE_TARBALL="jemalloc-${JE_VERSION}.tar.bz2"
CACHE="$here/subprojects/packagecache"

say() { printf 'bootstrap: %s\n' "$*"; }
die() { printf 'bootstrap: error: %s\n' "$*" >&2; exit 1; }

SUDO=
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || die "not root and no sudo: run as root or install the packages listed in docs/build.md"
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive

# Packages: build, libraries, tests (FFI from python3 and R, ABI checks, sanitizers, fuzzing), benchmarks, the
# Python package (python3-dev and python3-numpy for its numpy handler, python3-pandas for its tests), the BLAS and
# OpenMP runtimes the thread-pool tests load (tests/unit/test_pools.c) and threadpoolctl, which watches them.
PACKAGES=(
  gcc make pkg-config meson ninja-build bzip2 dpkg-dev
  libhwloc-dev libcpuid-dev libcmocka-dev abigail-tools binutils
  python3 python3-dev python3-numpy python3-pandas python3-pytest r-base-core
  clang libclang-rt-14-dev llvm
  libjemalloc-dev libmimalloc-dev
  libopenblas-dev python3-sklearn python3-faiss
  python3-torch # memgov.torch's CPU tests (issue 16; docs/gpu.md: 811 MB, 232 packages, 139 s to install)
  libopenblas0-pthread libopenblas0-openmp libgomp1 libomp5-14 libblis4-pthread python3-threadpoolctl
)
if [ -n "${MEMGOV_BOOTSTRAP_EXTRA:-}" ]; then
  read -r -a extra <<<"$MEMGOV_BOOTSTRAP_EXTRA"
  PACKAGES+=("${extra[@]}")
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

updated=0
apt_update() {
  if [ "$updated" -eq 0 ]; then
    say "apt-get update"
    $SUDO apt-get update -q >/dev/null || die "apt-get update failed (is Debian's archive reachable?)"
    updated=1
  fi
}

if [ "${#missing[@]}" -gt 0 ]; then
  say "installing missing Debian packages: ${missing[*]}"
  apt_update
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/tmp/memgov-bootstrap-apt.log 2>&1 \
    || { tail -20 /tmp/memgov-bootstrap-apt.log >&2; die "apt-get install failed for: ${missing[*]}"; }
else
  say "Debian packages: all present"
fi

sha_ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$JE_SHA256" ]; }

mkdir -p "$CACHE"
if sha_ok "$CACHE/$JE_TARBALL"; then
  say "jemalloc tarball: present, sha256 ok"
else
  rm -f "$CACHE/$JE_TARBALL"
  has_src=0
  if grep -rqsE '^[[:space:]]*(deb-src[[:space:]]|Types:.*deb-src)' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    has_src=1
  fi
  if [ "$has_src" -eq 0 ]; then
    say "no deb-src entry found: adding /etc/apt/sources.list.d/memgov-deb-src.sources (bookworm main)"
    $SUDO tee /etc/apt/sources.list.d/memgov-deb-src.sources >/dev/null <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    updated=0
  fi
  apt_update
  tmp=$(mktemp -d)
  say "downloading Debian's jemalloc source (apt-get source --download-only jemalloc)"
  (cd "$tmp" && apt-get source --download-only -q jemalloc >/dev/null 2>&1) \
    || { rm -rf "$tmp"; die "apt-get source jemalloc failed: no deb-src access to Debian's archive"; }
  orig=$(ls "$tmp"/jemalloc_${JE_VERSION}.orig.tar.* 2>/dev/null | head -n1 || true)
  [ -n "$orig" ] || { ls "$tmp" >&2; rm -rf "$tmp"; die "Debian's jemalloc source is not version $JE_VERSION"; }
  sha_ok "$orig" || { rm -rf "$tmp"; die "sha256 of $(basename "$orig") does not match $JE_SHA256"; }
  cp "$orig" "$CACHE/$JE_TARBALL"
  rm -rf "$tmp"
  say "jemalloc tarball: seeded $CACHE/$JE_TARBALL (sha256 ok)"
fi
