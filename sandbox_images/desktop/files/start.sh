#!/bin/sh
# Starts the desktop (once: a second call while it runs does nothing) under supervisord, in the
# foreground. RESOLUTION ("1280x800" or "1280x800x24"), or RESOLUTION_WIDTH and RESOLUTION_HEIGHT,
# set the screen; VNC_PASSWORD, if set, protects VNC (noVNC asks for it).
if supervisorctl -c /opt/desktop/supervisord.conf status >/dev/null 2>&1; then
  exit 0
fi
if [ -n "${RESOLUTION:-}" ]; then
  RESOLUTION_WIDTH="${RESOLUTION%%x*}"
  rest="${RESOLUTION#*x}"
  RESOLUTION_HEIGHT="${rest%%x*}"
fi
export RESOLUTION_WIDTH="${RESOLUTION_WIDTH:-1280}" RESOLUTION_HEIGHT="${RESOLUTION_HEIGHT:-800}"
export DISPLAY="${DISPLAY:-:99}"
mkdir -p /var/log/desktop /tmp/.X11-unix
chmod 1777 /tmp/.X11-unix
exec supervisord -n -c /opt/desktop/supervisord.conf
