#!/bin/sh
# Runs its command once the X display answers.
for _ in $(seq 100); do
  xdpyinfo >/dev/null 2>&1 && exec "$@"
  sleep 0.1
done
echo "the display $DISPLAY did not come up" >&2
exit 1
