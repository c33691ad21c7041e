"""Judge0's informational routes: languages, statuses, about, config_info, workers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse

from api.deps import PrincipalDep, SessionDep, StateDep
from api.errors import route_class
from api.judge0.errors import Judge0Renderer
from core import __version__
from core import constants as c
from core.errors import NotFound
from core.schemas import LanguageInfo
from core.services.system import queue_overview
from core.statuses import JUDGE0_STATUSES

router = APIRouter(tags=["judge0"], route_class=route_class(Judge0Renderer()))


def _command(argv: list[str] | None) -> str | None:
    return " ".join("%s" if word == "{options}" else word for word in argv) if argv else None


def _language_detail(lang: LanguageInfo) -> dict[str, Any]:
    return {
        "id": lang.id,
        "name": lang.name,
        "is_archived": lang.is_archived,
        "source_file": lang.source_file,
        "compile_cmd": _command(lang.compile_cmd),
        "run_cmd": _command(lang.run_cmd),
    }


@router.get("/languages")
async def languages(state: StateDep, session: SessionDep, principal: PrincipalDep) -> list[dict[str, Any]]:
    """Active languages, named with the versions really installed."""
    return [{"id": lang.id, "name": lang.name} for lang in await state.catalog.all(session) if not lang.is_archived]


@router.get("/languages/all")
async def all_languages(state: StateDep, session: SessionDep, principal: PrincipalDep) -> list[dict[str, Any]]:
    """Every language, archived ones included."""
    langs = sorted(await state.catalog.all(session), key=lambda lang: lang.name)
    return [{"id": lang.id, "name": lang.name, "is_archived": lang.is_archived} for lang in langs]


@router.get("/languages/{language_id}")
async def language(language_id: int, state: StateDep, session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    """One language, with how it is compiled and run."""
    found = await state.catalog.get(session, language_id)
    if found is None:
        raise NotFound("language", str(language_id))
    return _language_detail(found)


@router.get("/statuses")
async def statuses(principal: PrincipalDep) -> list[dict[str, Any]]:
    """Judge0's 14 statuses."""
    return [{"id": s.id, "description": s.description} for s in JUDGE0_STATUSES]


@router.get("/about")
async def about(principal: PrincipalDep) -> dict[str, Any]:
    """The Judge0 version whose API (and language ids) this server speaks."""
    return {
        "version": c.JUDGE0_VERSION,
        "homepage": None,
        "source_code": None,
        "maintainer": "Runyard (Judge0-compatible API)",
        "runyard_version": __version__,
    }


@router.get("/version", response_class=PlainTextResponse)
async def version(principal: PrincipalDep) -> str:
    """The Judge0 version, as plain text."""
    return c.JUDGE0_VERSION


@router.get("/config_info")
async def config_info(state: StateDep, principal: PrincipalDep) -> dict[str, Any]:
    """Defaults and maxima, under Judge0's names and units."""
    s = state.settings
    lim = s.limits
    return {
        "maintenance_mode": False,
        "enable_wait_result": True,
        "enable_compiler_options": True,
        "allowed_languages_for_compile_options": [],
        "enable_command_line_arguments": True,
        "enable_submission_delete": True,
        "enable_callbacks": True,
        "callbacks_max_tries": s.callbacks.max_tries,
        "callbacks_timeout": s.callbacks.timeout_s,
        "enable_additional_files": True,
        "max_queue_size": s.queue.max_queued,
        "cpu_time_limit": lim.cpu_time_limit_s,
        "max_cpu_time_limit": lim.max_cpu_time_limit_s,
        "cpu_extra_time": lim.cpu_extra_time_s,
        "max_cpu_extra_time": lim.max_cpu_extra_time_s,
        "wall_time_limit": lim.wall_time_limit_s,
        "max_wall_time_limit": lim.max_wall_time_limit_s,
        "memory_limit": lim.memory_limit_kb,
        "max_memory_limit": lim.max_memory_limit_kb,
        "stack_limit": lim.stack_limit_kb,
        "max_stack_limit": lim.max_stack_limit_kb,
        "max_processes_and_or_threads": lim.max_processes_and_or_threads,
        "max_max_processes_and_or_threads": lim.max_max_processes_and_or_threads,
        "enable_per_process_and_thread_time_limit": False,
        "allow_enable_per_process_and_thread_time_limit": False,
        "enable_per_process_and_thread_memory_limit": False,
        "allow_enable_per_process_and_thread_memory_limit": False,
        "max_file_size": lim.max_file_size_kb,
        "max_max_file_size": lim.max_max_file_size_kb,
        "number_of_runs": lim.number_of_runs,
        "max_number_of_runs": lim.max_number_of_runs,
        "redirect_stderr_to_stdout": False,
        "max_extract_size": lim.max_extract_size_kb,
        "enable_batched_submissions": True,
        "max_submission_batch_size": s.max_batch_size,
        "submission_cache_duration": 0.0,
        "use_docs_as_homepage": False,
        "allow_enable_network": s.allow_enable_network,
        "enable_network": False,
    }


@router.get("/workers")
async def workers(state: StateDep, session: SessionDep, principal: PrincipalDep) -> JSONResponse:
    """Per queue: waiting runs and worker slots (available, idle, working)."""
    return JSONResponse(await queue_overview(session, state.redis))
