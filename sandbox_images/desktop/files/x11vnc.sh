#!/bin/sh
# VNC on 5901 for the noVNC client next to it; protected by VNC_PASSWORD when it is set.
for _ in $(seq 100); do xdpyinfo >/dev/null 2>&1 && break; sleep 0.1; done
if [ -n "${VNC_PASSWORD:-}" ]; then
  x11vnc -storepasswd "$VNC_PASSWORD" /run/desktop-vncpass >/dev/null 2>&1
  auth="-rfbauth /run/desktop-vncpass"
else
  auth="-nopw"
fi
# shellcheck disable=SC2086
exec x11vnc -display "$DISPLAY" -forever -shared -rfbport 5901 $auth -quiet -noxdamage
