"""Images the suite starts sandboxes from, built on the sandbox engine the way a tenant's would be.

BARE is Debian's minbase as `make images` makes it: no Python, no user but root. USER_IMAGE is built
from it here with an ordinary user, its own WORKDIR and ENV, and nothing of ours either.
"""

from __future__ import annotations

import io

import docker

from core.settings import SandboxSettings

BARE = "debian:bookworm-slim"
USER_IMAGE = "runyard-test/ordinary-user:1"
USER_DOCKERFILE = f"""
FROM {BARE}
RUN useradd --create-home --uid 1000 --shell /bin/bash alice \\
 && mkdir /home/alice/project && chown alice:alice /home/alice/project
ENV GREETING=from-the-image
USER alice
WORKDIR /home/alice/project
"""


def sandbox_engine() -> docker.DockerClient:
    return docker.DockerClient(base_url=SandboxSettings().docker_url)


def ensure_user_image() -> str:
    """USER_IMAGE on the sandbox engine (built once; the build needs no network)."""
    engine = sandbox_engine()
    try:
        try:
            engine.images.get(USER_IMAGE)
        except docker.errors.ImageNotFound:
            engine.images.build(fileobj=io.BytesIO(USER_DOCKERFILE.encode()), tag=USER_IMAGE, rm=True)
    finally:
        engine.close()
    return USER_IMAGE
