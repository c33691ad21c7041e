"""A host's watch over its started sandboxes: a container that stopped behind the worker's back (the
Docker engine restarted, the machine rebooted) makes its sandbox `error` now, its container and files
kept for the next start, rather than when the next operation trips over it. On the same round it reads
the tenants' warm pools this host should keep."""

from __future__ import annotations

import logging
import threading

from core import sandbox_store
from core.db import transaction
from core.job_rows import SandboxSnapshot
from core.settings import Settings
from workers.runtime.base import RuntimeFailure
from workers.sandbox_host import SandboxHost

log = logging.getLogger(__name__)

STOPPED = "its container stopped; start the sandbox again (its files are kept)"


def mark_lost(settings: Settings, host: SandboxHost, lost: list[SandboxSnapshot], reason: str = STOPPED) -> int:
    """Mark each sandbox error (unless a stop or start got there first); its stopped container is kept."""
    marked = 0
    for sandbox in lost:
        if not sandbox.container_id:
            continue
        with transaction(settings) as session:
            won = sandbox_store.mark_lost(session, sandbox.id, sandbox.container_id, reason)
        if won:
            host.forget(sandbox.container_id)
            marked += 1
    if marked:
        log.warning("sandboxes lost their containers", extra={"count": marked, "reason": reason})
    return marked


class SandboxWatch:
    def __init__(self, settings: Settings, host: SandboxHost) -> None:
        self.settings = settings
        self.host = host
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sandbox-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def check(self) -> int:
        with transaction(self.settings) as session:
            known = sandbox_store.host_sandboxes(session, self.host.host)
            self.host.set_warm(sandbox_store.warm_targets(session, self.host.host))
        if not any(s.state == "started" for s in known):
            return 0
        return mark_lost(self.settings, self.host, self.host.stopped(known))

    def _loop(self) -> None:
        while not self._stop.wait(self.settings.sandboxes.watch_interval_s):
            try:
                self.check()
            except RuntimeFailure as exc:  # the engine is away: look again next time
                log.info("could not look at the sandboxes' containers", extra={"error": str(exc)})
            except Exception:
                log.exception("sandbox watch failed")
