"""One program's timings by raw `docker exec` in a warm container of a language family's image, with the
toolchain's plain commands, as a user would type them (Runyard's side: harness.runyard_program)."""

from __future__ import annotations

import base64
import shlex
from collections.abc import Iterator
from contextlib import contextmanager

import docker
from docker.models.containers import Container

from bench.harness import Series, sequential

SANDBOX_UID = "64000:64000"


@contextmanager
def warm_container(engine: docker.DockerClient, image: str) -> Iterator[Container]:
    """A running container of `image` shaped like a run's: the sandbox user, a read-only root, a writable /tmp."""
    container = engine.containers.run(
        image,
        ["sleep", "infinity"],
        detach=True,
        network_mode="none",
        entrypoint=[],
        user=SANDBOX_UID,
        read_only=True,
        tmpfs={"/tmp": "exec,size=256m"},
        environment={"HOME": "/tmp"},
    )
    try:
        yield container
    finally:
        container.remove(force=True)


def in_fresh_directory(source_file: str, source: str, commands: str) -> list[str]:
    """A shell line that writes the source into a new directory (and HOME) and runs `commands` there."""
    encoded = base64.b64encode(source.encode()).decode()
    return [
        "sh",
        "-c",
        f"d=$(mktemp -d) && cd $d && export HOME=$d && echo {encoded} | base64 -d > {shlex.quote(source_file)}"
        f" && {commands}",
    ]


def raw_program(container: Container, source_file: str, source: str, commands: str, n: int, name: str) -> Series:
    argv = in_fresh_directory(source_file, source, commands)

    def once() -> None:
        code, output = container.exec_run(argv)
        if code != 0:
            raise RuntimeError(output.decode(errors="replace"))

    return sequential(name, once, n)
