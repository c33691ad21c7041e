"""The language catalog, as workers published it from their images."""

from __future__ import annotations

import time

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import FieldError, InvalidInput
from core.models import Language
from core.schemas import LanguageInfo


def to_info(row: Language) -> LanguageInfo:
    return LanguageInfo(
        id=row.id,
        name=row.name,
        aliases=list(row.aliases or []),
        is_archived=row.is_archived,
        source_file=row.source_file,
        compile_cmd=row.compile_cmd,
        run_cmd=row.run_cmd,
        is_project=row.is_project,
        executable=row.executable,
        image=row.image,
        floors=dict(row.floors or {}),
    )


class Catalog:
    """A per-process copy of the languages table, refreshed every few seconds."""

    def __init__(self, ttl_s: float = 5.0) -> None:
        self.ttl_s = ttl_s
        self._loaded_at = float("-inf")
        self._by_id: dict[int, LanguageInfo] = {}

    async def all(self, session: AsyncSession) -> list[LanguageInfo]:
        if time.monotonic() - self._loaded_at > self.ttl_s or not self._by_id:
            rows = (await session.execute(select(Language).order_by(Language.id))).scalars().all()
            self._by_id = {row.id: to_info(row) for row in rows}
            self._loaded_at = time.monotonic()
        return list(self._by_id.values())

    async def get(self, session: AsyncSession, language_id: int) -> LanguageInfo | None:
        await self.all(session)
        return self._by_id.get(language_id)

    async def resolve(self, session: AsyncSession, language: int | str, field: str = "language_id") -> LanguageInfo:
        """Find a language by id or alias (the native API accepts both); archived ones are refused."""
        languages = await self.all(session)
        found: LanguageInfo | None = None
        if isinstance(language, int) or (isinstance(language, str) and language.isdigit()):
            found = self._by_id.get(int(language))
        else:
            wanted = language.strip().lower()
            found = next((lang for lang in languages if wanted in lang.aliases), None)
        if found is None:
            raise InvalidInput([FieldError(field, "exists", f"language with id {language} doesn't exist")])
        if found.is_archived:
            raise InvalidInput(
                [FieldError(field, "archived", f"language with id {language} is archived and cannot be used anymore")]
            )
        return found
