"""File bodies on their way into or out of a sandbox, in chunks in Postgres (never in Redis)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import InvalidInput
from core.models import Base, Blob, BlobChunk

BLOBS, CHUNKS = Base.metadata.tables["blobs"], Base.metadata.tables["blob_chunks"]


@dataclass(frozen=True)
class StoredBlob:
    """What the worker checks before it writes a body anywhere: a missing, short or altered body is refused."""

    id: uuid.UUID
    size: int
    sha256: str


async def store(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    pieces: AsyncIterator[bytes],
    limit: int,
    chunk_bytes: int,
    field: str = "body",
) -> StoredBlob:
    """Write a body as it arrives, chunk by chunk, never whole in memory; committed when complete."""
    blob_id = uuid.uuid4()
    await session.execute(insert(BLOBS).values(id=blob_id, tenant_id=tenant_id, size=0, complete=False))
    buf, seq, size, digest = bytearray(), 0, 0, hashlib.sha256()
    async for piece in pieces:
        buf += piece
        digest.update(piece)
        size += len(piece)
        if size > limit:
            await session.rollback()
            raise InvalidInput.one(field, "max_bytes", f"the file is larger than {limit} bytes", limit)
        while len(buf) >= chunk_bytes:
            await session.execute(insert(CHUNKS).values(blob_id=blob_id, seq=seq, data=bytes(buf[:chunk_bytes])))
            del buf[:chunk_bytes]
            seq += 1
    if buf or seq == 0:
        await session.execute(insert(CHUNKS).values(blob_id=blob_id, seq=seq, data=bytes(buf)))
    await session.execute(update(Blob).where(Blob.id == blob_id).values(size=size, complete=True))
    await session.commit()
    return StoredBlob(blob_id, size, digest.hexdigest())


async def chunks(session: AsyncSession, blob_id: uuid.UUID) -> AsyncIterator[bytes]:
    """A blob's chunks in order, one query each, so a large file is never whole in memory."""
    seqs = (
        await session.execute(select(BlobChunk.seq).where(BlobChunk.blob_id == blob_id).order_by(BlobChunk.seq))
    ).scalars()
    for seq in list(seqs):
        data = (
            await session.execute(select(BlobChunk.data).where(BlobChunk.blob_id == blob_id, BlobChunk.seq == seq))
        ).scalar_one()
        yield bytes(data)


async def drop(session: AsyncSession, blob_id: uuid.UUID) -> None:
    await session.execute(delete(Blob).where(Blob.id == blob_id))
    await session.commit()
