#!/bin/sh
# check_install.sh BUILD_DIR SOURCE_DIR CC SANITIZE
# `meson install` into a scratch DESTDIR, then compile tests/abi/consumer.c with nothing but the installed header
# and `pkg-config --cflags --libs memgov`, and run it against the installed library.
set -eu
build=$1; src=$2; cc=$3; sanitize=$4
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
meson install -C "$build" --no-rebuild --destdir "$dest" >"$dest/install.log" 2>&1 || { cat "$dest/install.log"; exit 1; }
pc=$(find "$dest" -name memgov.pc | head -n1)
[ -n "$pc" ] || { echo "FAIL: memgov.pc was not installed"; exit 1; }
[ -n "$(find "$dest" -name memgov.h -path '*include*')" ] || { echo "FAIL: memgov.h was not installed"; exit 1; }
[ -n "$(find "$dest" -name common.h -path '*include/memgov/*')" ] || { echo "FAIL: memgov/common.h was not installed"; exit 1; }
flags=$(PKG_CONFIG_PATH=$(dirname "$pc") PKG_CONFIG_SYSROOT_DIR=$dest pkg-config --cflags --libs memgov)
echo "pkg-config --cflags --libs memgov: $flags"
extra=""
[ "$sanitize" = none ] || extra="-fsanitize=$sanitize"
# shellcheck disable=SC2086
$cc -std=c11 -Wall -Werror $extra -o "$dest/consumer" "$src/tests/abi/consumer.c" $flags
libdir=$(dirname "$(find "$dest" -name 'libmemgov.so.1' | head -n1)")
LD_LIBRARY_PATH=$libdir "$dest/consumer"
