"""Dockerfiles as Runyard reads them before a build: their logical lines, the images they start FROM (each
checked against the installation's allow-list), and the entrypoint a snapshot's sandboxes run."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex

from core.errors import FieldError
from core.services.sandbox_validation import IMAGE_REF
from core.settings import Settings

_FROM = re.compile(r"^FROM\s+(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?\s*$", re.IGNORECASE)


def logical_lines(dockerfile: str) -> list[str]:
    """The Dockerfile's instructions: comments dropped, continued lines joined."""
    lines, current = [], ""
    for raw in dockerfile.splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        lines.append(current + stripped)
        current = ""
    if current.strip():
        lines.append(current)
    return lines


def base_images(dockerfile: str) -> list[str]:
    """The images the Dockerfile starts from (not its own stages, not scratch)."""
    stages: set[str] = set()
    bases = []
    for line in logical_lines(dockerfile):
        match = _FROM.match(line)
        if match is None:
            continue
        image, alias = match.group(1), match.group(2)
        if image.lower() not in stages and image != "scratch":
            bases.append(image)
        if alias:
            stages.add(alias.lower())
    return bases


def check_dockerfile(field: str, dockerfile: str, settings: Settings, errors: list[FieldError]) -> None:
    """Its size, that it starts FROM something, and that each base image is one the allow-list admits."""
    limit = settings.snapshots.max_dockerfile_bytes
    if len(dockerfile.encode()) > limit or "\x00" in dockerfile:
        errors.append(FieldError(field, "max_length", f"must be text of at most {limit} bytes", limit))
        return
    lines = logical_lines(dockerfile)
    if not lines or not (_FROM.match(lines[0]) or re.match(r"ARG\s", lines[0], re.IGNORECASE)):
        errors.append(FieldError(field, "from", "must start with a FROM instruction (after ARGs and comments)"))
        return
    for line in lines:
        if re.match(r"FROM\s", line, re.IGNORECASE) and not _FROM.match(line):
            errors.append(FieldError(field, "from", f"{line[:100]}: not FROM [--platform=...] image [AS name]"))
    allowed = settings.sandboxes.allowed_images
    for image in base_images(dockerfile):
        if "$" in image:
            if allowed != ["*"]:
                errors.append(
                    FieldError(
                        field,
                        "from",
                        f"FROM {image}: a base image named by a variable cannot be "
                        "checked against this installation's image allow-list",
                    )
                )
        elif not IMAGE_REF.fullmatch(image):
            errors.append(FieldError(field, "from", f"FROM {image[:100]}: not an image reference like debian:12"))
        elif not any(fnmatch.fnmatchcase(image, pattern) for pattern in allowed):
            errors.append(FieldError(field, "not_allowed", f"FROM {image}: not in this installation's allow-list"))


def entrypoint_command(dockerfile: str) -> str | None:
    """The shell command of the Dockerfile's own last ENTRYPOINT (exec or shell form), or None if it sets none.
    An entrypoint the base image brings is not run, as for any image (SUNA's starts its own programs)."""
    found = None
    for line in dockerfile.splitlines():
        instruction, _, rest = line.strip().partition(" ")
        if instruction.upper() != "ENTRYPOINT" or not rest.strip():
            continue
        try:
            argv = json.loads(rest)
        except ValueError:
            argv = None
        if isinstance(argv, list) and all(isinstance(a, str) for a in argv):
            found = shlex.join(argv) if argv else None
        else:
            found = shlex.join(["/bin/sh", "-c", rest.strip()])
    return found
