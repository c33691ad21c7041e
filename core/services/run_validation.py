"""A run as a client asked for it, checked field by field against the rules and limits, ready to persist."""

from __future__ import annotations

import io
import shlex
import zipfile
from dataclasses import dataclass

import anyio
from sqlalchemy.ext.asyncio import AsyncSession

from core import limits as limit_rules
from core.errors import FieldError, InvalidInput
from core.models import Base
from core.schemas import LanguageInfo, RunLimits, RunRequest
from core.services.languages import Catalog
from core.settings import Settings
from core.urlguard import Policy, UnsafeURL

JOBS, RUNS = Base.metadata.tables["jobs"], Base.metadata.tables["runs"]


@dataclass(frozen=True)
class PreparedRun:
    request: RunRequest
    language: LanguageInfo
    limits: RunLimits


# ------------------------------------------------------------------ validation


def _check_archive(data: bytes, settings: Settings) -> FieldError | None:
    limits = settings.limits
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        return FieldError("archive", "zip", f"is not a valid zip archive ({exc})")
    if len(infos) > limits.max_archive_entries:
        return FieldError("archive", "entries", f"has {len(infos)} entries; at most {limits.max_archive_entries}")
    total = sum(info.file_size for info in infos)
    if total > limits.max_extract_size_kb * 1024:
        return FieldError(
            "archive", "extract_size", f"expands to {total} bytes; at most {limits.max_extract_size_kb * 1024}"
        )
    for info in infos:
        name = info.filename.replace("\\", "/")
        if name.startswith("/") or ".." in name.split("/"):
            return FieldError("archive", "path", f"entry {info.filename!r} would land outside the working directory")
    return None


def _check_text(field: str, text: str | None) -> FieldError | None:
    """Text stored as text must be valid UTF-8 without NUL characters (PostgreSQL refuses both)."""
    if text is None:
        return None
    if "\x00" in text:
        return FieldError(field, "no_nul", "must not contain NUL characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return FieldError(field, "utf8", "is not valid UTF-8 text")
    return None


def _check_words(field: str, text: str | None, settings: Settings) -> FieldError | None:
    if not text:
        return None
    if error := _check_text(field, text):
        return error
    if len(text) > settings.limits.max_options_length:
        return FieldError(
            field,
            "max_length",
            f"is too long (maximum is {settings.limits.max_options_length} characters)",
            settings.limits.max_options_length,
        )
    try:
        shlex.split(text)
    except ValueError as exc:
        return FieldError(field, "shell_words", f"cannot be split into arguments ({exc})")
    return None


def _check_size(field: str, data: bytes | None, maximum: int) -> FieldError | None:
    if data is not None and len(data) > maximum:
        return FieldError(field, "max_bytes", f"is {len(data)} bytes; at most {maximum}", maximum)
    return None


async def check_callback(url: str, settings: Settings) -> FieldError | None:
    policy = Policy(settings.callbacks.allow_hosts)
    try:
        with anyio.fail_after(settings.callbacks.resolve_timeout_s):
            await anyio.to_thread.run_sync(policy.check, url)
    except UnsafeURL as exc:
        return FieldError("callback_url", "safe_url", str(exc))
    except TimeoutError:
        return FieldError("callback_url", "safe_url", "host did not resolve in time")
    return None


async def prepare_run(session: AsyncSession, request: RunRequest, settings: Settings, catalog: Catalog) -> PreparedRun:
    """Check one request against every rule; raise InvalidInput listing all that fail."""
    errors: list[FieldError] = []
    language: LanguageInfo | None = None
    try:
        language = await catalog.resolve(session, request.language_id)
    except InvalidInput as exc:
        errors.extend(exc.errors)
    if language is not None:
        if language.is_project:
            if request.source:
                errors.append(FieldError("source", "forbidden", "must be blank for a multi-file program"))
            if not request.archive:
                errors.append(FieldError("archive", "required", "can't be blank for a multi-file program"))
        elif request.source is None:
            errors.append(FieldError("source", "required", "can't be blank"))
        if request.compiler_options and not (language.compile_cmd and not language.is_project):
            errors.append(
                FieldError(
                    "compiler_options",
                    "compiled_only",
                    "setting compiler options is only allowed for compiled languages",
                )
            )
    lim = settings.limits
    errors.extend(
        e
        for e in (
            _check_size("source", request.source, lim.max_source_bytes),
            _check_size("stdin", request.stdin, lim.max_stdin_bytes),
            _check_size("expected_output", request.expected_output, lim.max_stdin_bytes),
            _check_size("archive", request.archive, lim.max_archive_bytes),
            _check_archive(request.archive, settings) if request.archive else None,
            _check_words("compiler_options", request.compiler_options, settings),
            _check_words("command_line_arguments", request.command_line_arguments, settings),
        )
        if e is not None
    )
    if request.enable_network and not settings.allow_enable_network:
        errors.append(FieldError("enable_network", "not_allowed", "enabling network is not allowed"))
    for flag in ("enable_per_process_time_limit", "enable_per_process_memory_limit"):
        if getattr(request, flag):
            errors.append(FieldError(flag, "not_allowed", "this option cannot be enabled"))
    limits: RunLimits | None = None
    try:
        limits = limit_rules.resolve(request.limits, lim)
    except InvalidInput as exc:
        errors.extend(exc.errors)
    if request.callback_url:
        error = _check_text("callback_url", request.callback_url) or await check_callback(
            request.callback_url, settings
        )
        if error:
            errors.append(error)
    if errors:
        raise InvalidInput(errors)
    assert language is not None and limits is not None
    return PreparedRun(request, language, limits)
