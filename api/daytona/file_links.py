"""Daytona's signed file links: the sandbox's signing key (and its rotation) on the main API, and the toolbox's
download and upload (upload-v2) that take a link's signature instead of an API key (core/services/file_links.py)."""

from __future__ import annotations

import json
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from starlette.datastructures import FormData, UploadFile

from api.daytona.errors import DaytonaRenderer
from api.daytona.toolbox import Toolbox
from api.deps import PrincipalDep, SessionDep, StateDep, get_principal
from api.errors import route_class
from core.errors import InvalidInput, NotFound
from core.services import file_links
from core.services import sandboxes as svc
from core.services.auth import Principal

router = APIRouter(prefix="/daytona/api", tags=["daytona"], route_class=route_class(DaytonaRenderer()))


def _key_answer(key: str) -> Response:
    return Response(json.dumps(key), media_type="application/json")


@router.get("/sandbox/{ident}/signing-key")
async def signing_key(ident: str, session: SessionDep, principal: PrincipalDep) -> Response:
    return _key_answer(await file_links.signing_key(session, await svc.get_sandbox(session, principal, ident)))


@router.post("/sandbox/{ident}/signing-key/rotate")
async def rotate_signing_key(ident: str, session: SessionDep, principal: PrincipalDep) -> Response:
    """A new key: every link signed with the old one stops working."""
    sandbox = await svc.get_sandbox(session, principal, ident)
    return _key_answer(await file_links.signing_key(session, sandbox, rotate=True))


async def link_or_key(sandbox_id: str, request: Request, state: StateDep, session: SessionDep) -> Toolbox:
    """The caller of a file route: a signed link's holder (for the sandbox's owner), or an API key's."""
    signed = request.query_params.get("signature")
    if signed is None:
        principal = await get_principal(request, state, session)
        return Toolbox(state, session, principal, await svc.get_sandbox(session, principal, sandbox_id))
    try:
        ident = uuid.UUID(sandbox_id)
    except ValueError:
        raise NotFound("sandbox", sandbox_id) from None
    sandbox = await svc.sandbox_by_id(session, ident)
    path = request.query_params.get("path", "")
    file_links.check(sandbox, ident, request.method, path, request.query_params.get("expires", ""), signed)
    assert sandbox is not None  # check() refuses a link to no sandbox
    owner = Principal.of_tenant(sandbox.tenant_id)
    return Toolbox(state, session, owner, sandbox)


LinkOrKey = Annotated[Toolbox, Depends(link_or_key)]


def upload_field(form: FormData) -> UploadFile:
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise InvalidInput.one("file", "required", "a multipart field named file")
    return upload
