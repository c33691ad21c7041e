"""Executing one claimed run in a warm run container: compile, run, verdict."""

from __future__ import annotations

import io
import logging
import shlex
import time
import zipfile

from core.job_machine import RunClaim
from core.schemas import LanguageInfo, RunLimits, RunOutcome, RunRecord
from core.settings import Settings
from core.statuses import RunStatus
from workers import verdict
from workers.agent_protocol import StepLimits, StepResult, decode_reply, run_request
from workers.run_pools import RunPools
from workers.runtime.base import ContainerLimits, RunContainer, RuntimeFailure

log = logging.getLogger(__name__)

OPTIONS_PLACEHOLDER = "{options}"


def container_limits(memory_kb: int, processes: int, settings: Settings) -> ContainerLimits:
    w = settings.worker
    return ContainerLimits(
        memory_bytes=memory_kb * 1024 + w.agent_memory_overhead_bytes,
        pids=processes + w.agent_pids_overhead,
        cpus=settings.limits.cpus,
    )


def compile_limits(settings: Settings) -> tuple[StepLimits, ContainerLimits]:
    """Compilers get the operator's maxima, as in Judge0."""
    lim = settings.limits
    step = StepLimits(
        cpu_ms=round(lim.max_cpu_time_limit_s * 1000),
        wall_ms=round(lim.max_wall_time_limit_s * 1000),
        file_size_bytes=lim.max_max_file_size_kb * 1024,
        stack_bytes=lim.max_stack_limit_kb * 1024,
        open_files=lim.open_files,
        output_bytes=lim.compile_output_limit_bytes,
    )
    return step, container_limits(lim.max_memory_limit_kb, lim.max_max_processes_and_or_threads, settings)


def run_limits(limits: RunLimits, settings: Settings) -> tuple[StepLimits, ContainerLimits]:
    step = StepLimits(
        cpu_ms=limits.cpu_time_ms + limits.cpu_extra_time_ms,
        wall_ms=limits.wall_time_ms,
        file_size_bytes=limits.max_file_size_kb * 1024,
        stack_bytes=limits.stack_kb * 1024,
        open_files=settings.limits.open_files,
        output_bytes=limits.output_bytes,
    )
    return step, container_limits(limits.memory_kb, limits.max_processes, settings)


def with_floors(limits: RunLimits, floors: dict[str, int]) -> RunLimits:
    """The run's limits, each raised to the least its language's runtime needs to start (languages.json)."""
    raised = {k: max(getattr(limits, k), v) for k, v in floors.items() if k in RunLimits.model_fields}
    return limits.model_copy(update=raised) if raised else limits


def expand(template: list[str], options: str | None) -> list[str]:
    argv: list[str] = []
    for word in template:
        argv.extend(shlex.split(options or "") if word == OPTIONS_PLACEHOLDER else [word])
    return argv


def archive_has(archive: bytes | None, name: str) -> bool:
    if not archive:
        return False
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        return any(n.strip("/").lstrip("./") == name for n in zf.namelist())


class RunExecutor:
    def __init__(self, pools: RunPools, settings: Settings) -> None:
        self.pools = pools
        self.settings = settings

    def execute(self, claim: RunClaim, language: LanguageInfo) -> RunOutcome:
        """Raises RuntimeFailure for infrastructure trouble; every program behaviour is an outcome."""
        record = claim.record
        started = time.monotonic()
        pool = self.pools.pool(language.image, networked=record.enable_network)
        container = pool.acquire(self.settings.worker.acquire_timeout_s)
        healthy = False
        try:
            outcome = self._execute(container, record, language)
            healthy = True
        finally:
            # A container that failed mid-run is in an unknown state: destroyed, never reset and reused.
            (pool.release if healthy else pool.discard)(container)
        log.info(
            "run executed",
            extra={
                "job_id": str(claim.job_id),
                "attempt": claim.attempt,
                "status": outcome.status.value,
                "elapsed_ms": round((time.monotonic() - started) * 1000, 1),
            },
        )
        return outcome

    def _execute(self, container: RunContainer, record: RunRecord, language: LanguageInfo) -> RunOutcome:
        compiles = bool(language.compile_cmd) and (
            not language.is_project or archive_has(record.additional_files, "compile")
        )
        files = self._files(record, language)
        archive = record.additional_files
        compile_output: bytes | None = None
        if compiles:
            assert language.compile_cmd is not None
            c_step, c_limits = compile_limits(self.settings)
            container.set_limits(c_limits)
            argv = expand(language.compile_cmd, record.compiler_options)
            [result] = self._steps(container, argv, c_step, files=files, archive=archive, merge_stderr=True)
            failed = verdict.compile_failed(result)
            if failed is not None:
                return failed
            compile_output = result.stdout or None
            files, archive = [], None
        r_step, r_limits = run_limits(with_floors(record.limits, language.floors), self.settings)
        container.set_limits(r_limits)
        assert language.run_cmd is not None
        argv = list(language.run_cmd) + shlex.split(record.command_line_arguments or "")
        results = self._steps(
            container,
            argv,
            r_step,
            files=files,
            archive=archive,
            stdin=record.stdin,
            merge_stderr=record.redirect_stderr_to_stdout,
            repeat=record.limits.number_of_runs,
        )
        return verdict.judge(results, record.limits, record.expected_output, compile_output)

    def _files(self, record: RunRecord, language: LanguageInfo) -> list[tuple[str, bytes, int]]:
        if language.is_project or record.source_code is None or not language.source_file:
            return []
        mode = 0o755 if language.executable else 0o644
        return [(language.source_file, record.source_code, mode)]

    def _steps(
        self,
        container: RunContainer,
        argv: list[str],
        limits: StepLimits,
        *,
        files: list[tuple[str, bytes, int]],
        archive: bytes | None,
        stdin: bytes = b"",
        merge_stderr: bool = False,
        repeat: int = 1,
    ) -> list[StepResult]:
        settings = self.settings
        request = run_request(
            uid=settings.worker.sandbox_uid,
            gid=settings.worker.sandbox_gid,
            argv=argv,
            limits=limits,
            stdin=stdin,
            merge_stderr=merge_stderr,
            repeat=repeat,
            files=files,
            archive=archive,
            archive_limit_bytes=settings.limits.max_extract_size_kb * 1024,
            archive_max_entries=settings.limits.max_archive_entries,
        )
        timeout = limits.wall_ms / 1000 * repeat + settings.worker.exec_margin_s
        reply = decode_reply(container.call(request, timeout))
        if reply.setup_error is not None:
            raise RuntimeFailure(f"could not prepare the working directory: {reply.setup_error}")
        if not reply.results:
            raise RuntimeFailure("the agent ran nothing")
        return reply.results


def internal_error(message: str) -> RunOutcome:
    return RunOutcome(status=RunStatus.INTERNAL_ERROR, message=message)
