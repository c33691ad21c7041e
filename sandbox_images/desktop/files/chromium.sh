#!/bin/sh
# Chromium on the desktop, its DevTools protocol on 127.0.0.1:9222 only (reached from outside through
# Runyard's authenticated port proxy). As root it needs --no-sandbox; the sandbox is the container.
exec /usr/bin/chromium --no-sandbox --no-first-run --no-default-browser-check \
  --remote-debugging-address=127.0.0.1 --remote-debugging-port=9222 --remote-allow-origins=* \
  --user-data-dir=/root/.config/chromium-desktop --window-position=0,0 \
  --window-size="${RESOLUTION_WIDTH:-1280},${RESOLUTION_HEIGHT:-800}" about:blank
