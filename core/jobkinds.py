"""Every kind of job, once: adapters submit these, the job rows store them, workers dispatch on them."""

from __future__ import annotations

import enum


class JobKind(enum.StrEnum):
    RUN = "run"
    CREATE = "sandbox.create"
    START = "sandbox.start"
    STOP = "sandbox.stop"
    DELETE = "sandbox.delete"
    RESIZE = "sandbox.resize"
    PAUSE = "sandbox.pause"
    NETWORK = "sandbox.network"
    ENV = "sandbox.env"
    COMMIT = "sandbox.commit"
    GROW_DISK = "sandbox.grow_disk"
    METRICS = "sandbox.metrics"
    EXEC = "sandbox.exec"
    KERNEL_RUN = "sandbox.kernel.run"
    KERNEL_RESTART = "sandbox.kernel.restart"
    KERNEL_CONTEXT_CREATE = "sandbox.kernel.context.create"
    KERNEL_CONTEXT_LIST = "sandbox.kernel.context.list"
    KERNEL_CONTEXT_DELETE = "sandbox.kernel.context.delete"
    SESSION_CREATE = "sandbox.session.create"
    SESSION_EXEC = "sandbox.session.exec"
    SESSION_COMMAND = "sandbox.session.command"
    SESSION_CANCEL = "sandbox.session.cancel"
    SESSION_INPUT = "sandbox.session.input"
    SESSION_DELETE = "sandbox.session.delete"
    SESSION_LIST = "sandbox.session.list"
    FILES_LIST = "sandbox.files.list"
    FILES_STAT = "sandbox.files.stat"
    FILES_MKDIR = "sandbox.files.mkdir"
    FILES_DELETE = "sandbox.files.delete"
    FILES_MOVE = "sandbox.files.move"
    FILES_CHMOD = "sandbox.files.chmod"
    FILES_FIND = "sandbox.files.find"
    FILES_GREP = "sandbox.files.grep"
    FILES_REPLACE = "sandbox.files.replace"
    FILES_UPLOAD = "sandbox.files.upload"
    FILES_DOWNLOAD = "sandbox.files.download"
    STREAM_OPEN = "sandbox.stream.open"
    COMPUTER_USE = "sandbox.computer_use"
    SNAPSHOT_BUILD = "snapshot.build"
    SNAPSHOT_DELETE = "snapshot.delete"

    @property
    def lifecycle(self) -> bool:
        return self in LIFECYCLE

    @property
    def on_snapshot(self) -> bool:
        """Acts on a snapshot (an image on a host's sandbox engine), not on a sandbox."""
        return self in (JobKind.SNAPSHOT_BUILD, JobKind.SNAPSHOT_DELETE)

    @property
    def verb(self) -> str:
        """The last word, as messages name the operation: "start", "upload"."""
        return self.value.rsplit(".", 1)[-1]


# On a sandbox that is not started (so not refused for that): they change what it is.
LIFECYCLE = frozenset({JobKind.CREATE, JobKind.START, JobKind.STOP, JobKind.DELETE, JobKind.GROW_DISK})

# Safe to run again after a worker died holding them: they converge on the same state.
IDEMPOTENT = frozenset(
    {
        *LIFECYCLE,
        JobKind.RUN,
        JobKind.FILES_DOWNLOAD,
        # Written aside and renamed into place: a repeat replaces the file with the same whole bytes.
        JobKind.FILES_UPLOAD,
        JobKind.FILES_LIST,
        JobKind.FILES_STAT,
        JobKind.FILES_FIND,
        JobKind.FILES_GREP,
        JobKind.SESSION_COMMAND,
        JobKind.SESSION_LIST,
        JobKind.KERNEL_CONTEXT_LIST,
        # Each sets the same limits, network or variables again: a repeat changes nothing more.
        JobKind.RESIZE,
        JobKind.PAUSE,
        JobKind.NETWORK,
        JobKind.ENV,
        JobKind.COMMIT,  # the same tag again, of the filesystem as it is then
        JobKind.METRICS,
        # A build again gives the same image under the same tag; a removal of what is gone does nothing.
        JobKind.SNAPSHOT_BUILD,
        JobKind.SNAPSHOT_DELETE,
    }
)
