"""What the native sandbox routes share: the wait and callback options, path parameters, and one way to run
an operation (wait for its outcome, or answer 202 with its job)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import PrincipalDep, SessionDep, StateDep
from api.errors import route_class
from api.state import AppState
from api.v1.errors import NativeRenderer
from core.errors import InvalidInput, Pending
from core.jobkinds import JobKind
from core.services import operations as ops
from core.services import sandboxes as svc
from core.services.auth import Principal
from core.services.run_validation import check_callback


def sandbox_router() -> APIRouter:
    return APIRouter(prefix="/v1", tags=["sandboxes"], route_class=route_class(NativeRenderer()))


WaitQuery = Annotated[bool, Query(description="Answer with the outcome (default), or at once with the job (202)")]
CallbackQuery = Annotated[
    str | None,
    Query(max_length=2048, description="POSTed the finished job (signed, as for runs); implies wait=false"),
]


@dataclass(frozen=True)
class OpOptions:
    wait: bool = True
    callback_url: str | None = None


def op_options(wait: WaitQuery = True, callback_url: CallbackQuery = None) -> OpOptions:
    return OpOptions(wait, callback_url)


OptionsDep = Annotated[OpOptions, Depends(op_options)]
PathQuery = Annotated[str, Query(min_length=1, max_length=4096, description="Absolute, or relative to /workspace")]


@dataclass(frozen=True)
class SandboxCall:
    """One operation's request: who asks, in which session, and whether to wait for the outcome."""

    state: AppState
    session: AsyncSession
    principal: Principal
    opts: OpOptions

    async def op(
        self, ident: str, kind: JobKind, payload: dict[str, Any], timeout_ms: int | None = None
    ) -> dict[str, Any]:
        """Queue one operation and return its result (or raise its error); without wait, or when the wait runs
        out, Pending: the protocol answers 202 with the job."""
        state, session, principal = self.state, self.session, self.principal
        wait, callback_url = self.opts.wait, self.opts.callback_url
        if callback_url is not None:
            error = await check_callback(callback_url, state.settings)
            if error is not None:
                raise InvalidInput([error])
            wait = False
        sandbox = await svc.get_sandbox(session, principal, ident)
        caller = state.caller(session, principal)
        if wait:
            return await ops.run_op(caller, sandbox, kind, payload, timeout_ms)
        job_id = await ops.submit_op(caller, sandbox, kind, payload, timeout_ms, callback_url)
        raise Pending(await ops.get_job(session, principal, job_id))

    def timeout(self, timeout_ms: int | None) -> int:
        return checked_timeout(self.state.settings, timeout_ms)


def sandbox_call(state: StateDep, session: SessionDep, principal: PrincipalDep, opts: OptionsDep) -> SandboxCall:
    return SandboxCall(state, session, principal, opts)


CallDep = Annotated[SandboxCall, Depends(sandbox_call)]


def checked_timeout(settings: Any, timeout_ms: int | None) -> int:
    s = settings.sandboxes
    if timeout_ms is None:
        return int(s.exec_timeout_s * 1000)
    if timeout_ms > s.max_exec_timeout_s * 1000:
        raise InvalidInput.one(
            "timeout_ms",
            "le",
            f"must be less than or equal to {int(s.max_exec_timeout_s * 1000)}",
            s.max_exec_timeout_s * 1000,
        )
    return timeout_ms
