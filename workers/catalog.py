"""Publishing the languages this worker's images provide, as the images themselves describe them."""

from __future__ import annotations

import json
import logging

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from core import constants as c
from core.models import Language
from core.schemas import LanguageInfo
from workers.runtime.base import RunContainerRuntime, RuntimeFailure

log = logging.getLogger(__name__)


def read_catalog(runtime: RunContainerRuntime, image: str) -> list[LanguageInfo]:
    try:
        data = json.loads(runtime.read_image_file(image, c.CATALOG_PATH))
    except ValueError as exc:
        raise RuntimeFailure(f"{c.CATALOG_PATH} in {image} is not valid JSON: {exc}") from exc
    return [
        LanguageInfo(
            id=lang["id"],
            name=lang["name"],
            aliases=lang.get("aliases", []),
            source_file=lang.get("source_file"),
            compile_cmd=lang.get("compile"),
            run_cmd=lang.get("run"),
            is_project=bool(lang.get("project", False)),
            executable=bool(lang.get("executable", False)),
            image=image,
            floors={str(k): int(v) for k, v in (lang.get("floors") or {}).items()},
        )
        for lang in data["languages"]
    ]


def read_catalogs(runtime: RunContainerRuntime, images: list[str]) -> list[LanguageInfo]:
    """Every image's languages; an image this engine lacks is left out (and said), not fatal to the worker."""
    languages: list[LanguageInfo] = []
    for image in images:
        try:
            languages.extend(read_catalog(runtime, image))
        except RuntimeFailure as exc:
            log.error(
                "an image's languages are not served: it cannot be read", extra={"image": image, "error": str(exc)}
            )
    return languages


def publish(session: Session, languages: list[LanguageInfo]) -> None:
    for lang in languages:
        values = lang.model_dump()
        stmt = insert(Language).values(**values)
        session.execute(
            stmt.on_conflict_do_update(
                index_elements=[Language.id], set_={k: stmt.excluded[k] for k in values if k != "id"}
            )
        )
    log.info("language catalog published", extra={"languages": [lang.id for lang in languages]})
