#!/bin/sh
# bundle.sh OUT PREFIX: copy this image's Python 3, its standard library, nft, and every shared library
# they load into OUT/rt, rewritten to run from PREFIX/rt whatever the image it is mounted in holds.
set -eu
out="$1/rt"
prefix="$2/rt"
version="$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
stdlib="/usr/lib/python$version"
mkdir -p "$out/bin" "$out/lib"
cp "$(readlink -f /usr/bin/python3)" "$out/bin/python3"
cp "$(readlink -f /usr/sbin/nft)" "$out/bin/nft"
# The standard library without what an agent never imports (tests, GUIs, installers, docs).
tar -C /usr/lib -c \
  --exclude="python$version/test" --exclude="python$version/idlelib" --exclude="python$version/tkinter" \
  --exclude="python$version/turtledemo" --exclude="python$version/ensurepip" --exclude="python$version/lib2to3" \
  --exclude="python$version/pydoc_data" --exclude="python$version/config-*" --exclude="python$version/site-packages" \
  --exclude="python$version/dist-packages" \
  "python$version" | tar -C "$out/lib" -x
# Every library the interpreter and its extension modules load, and the loader itself.
for f in "$out/bin/python3" "$out/bin/nft" "$stdlib"/lib-dynload/*.so; do
  ldd "$f" 2>/dev/null | awk '/=> \// {print $3} /^\t\/.*ld-linux/ {print $1}'
done | sort -u | while read -r lib; do cp -L "$lib" "$out/lib/"; done
loader="$(ldd "$out/bin/python3" | awk '/ld-linux/ {print $1}')"
cp -L "$loader" "$out/lib/ld.so"
# DT_RPATH (not RUNPATH) wins over an LD_LIBRARY_PATH the image may set, and covers the modules' own needs.
for binary in "$out/bin/python3" "$out/bin/nft"; do
  patchelf --set-interpreter "$prefix/lib/ld.so" --force-rpath --set-rpath "$prefix/lib" "$binary"
done
