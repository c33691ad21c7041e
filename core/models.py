"""The ORM model: tenants and their keys, languages, jobs, runs, sandboxes and file bodies.

A job is the unit that moves through the queue (one state machine for every
kind); a run is the payload and result of a job of kind "run". A sandbox is a
long-lived container on one worker host; every operation on it is a job whose
payload and result are JSON, and whose file bodies live in blobs.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from core.states import JobState, SandboxState, SnapshotState


class Base(DeclarativeBase):
    pass


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    # Signs callback bodies (HMAC-SHA256); shown to the tenant, never derived from a key.
    callback_secret: Mapped[str] = mapped_column(String(100))
    requests_per_minute: Mapped[int | None] = mapped_column(Integer)
    max_sandboxes: Mapped[int | None] = mapped_column(Integer)
    # False: this tenant's sandboxes never have network; None: the installation's setting.
    sandbox_network: Mapped[bool | None] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    # SHA-256 of the whole key: keys are 256-bit random, so a fast hash is enough.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    tenant: Mapped[Tenant] = relationship(lazy="joined")


class Language(Base):
    """A language some worker's image provides; workers publish their catalogs here."""

    __tablename__ = "languages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(200))
    aliases: Mapped[list[str]] = mapped_column(JSONB, default=list)
    image: Mapped[str] = mapped_column(String(300))
    source_file: Mapped[str | None] = mapped_column(String(200))
    compile_cmd: Mapped[list[str] | None] = mapped_column(JSONB)
    run_cmd: Mapped[list[str] | None] = mapped_column(JSONB)
    is_project: Mapped[bool] = mapped_column(Boolean, default=False)
    executable: Mapped[bool] = mapped_column(Boolean, default=False)
    is_archived: Mapped[bool] = mapped_column(Boolean, default=False)
    # RunLimits field -> the least value of it this language's runtime needs to start at all.
    floors: Mapped[dict[str, int]] = mapped_column(JSONB, default=dict, server_default=text("'{}'::jsonb"))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_tenant_seq", "tenant_id", text("seq DESC")),
        Index("ix_jobs_queued", "enqueued_at", postgresql_where=text("state = 'queued'")),
        Index("ix_jobs_running_lease", "lease_expires_at", postgresql_where=text("state = 'running'")),
        Index(
            "ux_jobs_tenant_idempotency_key",
            "tenant_id",
            "idempotency_key",
            unique=True,
            postgresql_where=text("idempotency_key IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    # Creation order, exact even within one transaction (timestamps are not): listings sort by it.
    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True))
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    queue: Mapped[str] = mapped_column(String(100))
    # Which API created it: callbacks answer in the same protocol.
    protocol: Mapped[str] = mapped_column(String(20), default="v1")
    # The client's name for the request that created it: the same key again gets this job, not a new one.
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(20), default=JobState.QUEUED.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    attempt_id: Mapped[uuid.UUID | None] = mapped_column()
    worker: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    enqueued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )

    # Sandbox jobs: which sandbox, what to do (JSON), and what came of it (JSON).
    sandbox_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sandboxes.id", ondelete="CASCADE"), index=True)
    snapshot_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("snapshots.id", ondelete="CASCADE"), index=True)
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    timeout_ms: Mapped[int | None] = mapped_column(Integer)

    callback_url: Mapped[str | None] = mapped_column(Text)
    callback_state: Mapped[str | None] = mapped_column(String(20))
    callback_attempts: Mapped[int] = mapped_column(Integer, default=0)
    callback_last_error: Mapped[str | None] = mapped_column(Text)

    run: Mapped[Run | None] = relationship(back_populates="job", uselist=False, cascade="all, delete-orphan")


class Run(Base):
    __tablename__ = "runs"

    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    language_id: Mapped[int] = mapped_column(Integer)

    # What to run
    source_code: Mapped[bytes | None] = mapped_column(LargeBinary)
    additional_files: Mapped[bytes | None] = mapped_column(LargeBinary)
    stdin: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    expected_output: Mapped[bytes | None] = mapped_column(LargeBinary)
    compiler_options: Mapped[str | None] = mapped_column(Text)
    command_line_arguments: Mapped[str | None] = mapped_column(Text)
    redirect_stderr_to_stdout: Mapped[bool] = mapped_column(Boolean, default=False)
    enable_network: Mapped[bool] = mapped_column(Boolean, default=False)

    # Limits, in the core's units
    cpu_time_limit_ms: Mapped[int] = mapped_column(Integer)
    cpu_extra_time_ms: Mapped[int] = mapped_column(Integer)
    wall_time_limit_ms: Mapped[int] = mapped_column(Integer)
    memory_limit_kb: Mapped[int] = mapped_column(Integer)
    stack_limit_kb: Mapped[int] = mapped_column(Integer)
    max_processes: Mapped[int] = mapped_column(Integer)
    max_file_size_kb: Mapped[int] = mapped_column(Integer)
    output_limit_bytes: Mapped[int] = mapped_column(Integer)
    number_of_runs: Mapped[int] = mapped_column(Integer, default=1)

    # Outcome (set once, by the attempt that completes the job)
    verdict: Mapped[str | None] = mapped_column(String(40))
    stdout: Mapped[bytes | None] = mapped_column(LargeBinary)
    stderr: Mapped[bytes | None] = mapped_column(LargeBinary)
    compile_output: Mapped[bytes | None] = mapped_column(LargeBinary)
    stdout_truncated: Mapped[bool] = mapped_column(Boolean, default=False)
    stderr_truncated: Mapped[bool] = mapped_column(Boolean, default=False)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    exit_signal: Mapped[int | None] = mapped_column(Integer)
    message: Mapped[str | None] = mapped_column(Text)
    time_ms: Mapped[float | None] = mapped_column(Float)
    wall_time_ms: Mapped[float | None] = mapped_column(Float)
    memory_kb: Mapped[int | None] = mapped_column(Integer)

    job: Mapped[Job] = relationship(back_populates="run", lazy="joined")


class Sandbox(Base):
    __tablename__ = "sandboxes"
    __table_args__ = (
        Index("ix_sandboxes_tenant_seq", "tenant_id", text("seq DESC")),
        Index("ix_sandboxes_host_state", "host", "state"),
        Index(
            "uq_sandboxes_tenant_name", "tenant_id", "name", unique=True, postgresql_where=text("state <> 'deleted'")
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True))
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    protocol: Mapped[str] = mapped_column(String(20), default="v1")
    template: Mapped[str] = mapped_column(String(200))
    image: Mapped[str] = mapped_column(String(300))
    state: Mapped[str] = mapped_column(String(20), default=SandboxState.CREATING.value)
    # The worker host whose Docker engine holds it; its jobs go to that host's queue.
    host: Mapped[str] = mapped_column(String(200))
    container_id: Mapped[str | None] = mapped_column(String(100))
    volume: Mapped[str | None] = mapped_column(String(200))
    # The snapshot it starts (or, pending_build, will start) from, if it is one of a tenant's own.
    snapshot_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("snapshots.id", ondelete="SET NULL"))
    env: Mapped[dict[str, str]] = mapped_column(JSONB, default=dict)
    # Environment variable -> the name of the tenant's secret it takes (core/services/secrets.py).
    secrets: Mapped[dict[str, str]] = mapped_column(JSONB, default=dict, server_default=text("'{}'::jsonb"))
    labels: Mapped[dict[str, str]] = mapped_column(JSONB, default=dict)
    cpus: Mapped[float] = mapped_column(Float)
    memory_bytes: Mapped[int] = mapped_column(BigInteger)
    disk_bytes: Mapped[int] = mapped_column(BigInteger)
    network: Mapped[bool] = mapped_column(Boolean, default=False)
    # CIDRs a networked sandbox may reach (inside the fence); None: the whole fenced internet.
    egress_allow: Mapped[list[str] | None] = mapped_column(JSONB)
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    # Seconds; 0 means never.
    auto_stop_s: Mapped[int] = mapped_column(Integer, default=0)
    auto_delete_s: Mapped[int] = mapped_column(Integer, default=0)
    # Seconds idle before it is paused; seconds from its creation until it is deleted (0: never).
    auto_pause_s: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    ttl_s: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    # Daytona's archive: stopped, workspace kept, shown as "archived"; its interval is only recorded.
    archived: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    auto_archive_s: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    # Lets a browser reach the sandbox's ports through the preview proxy without an API key.
    preview_token: Mapped[str | None] = mapped_column(String(64))
    # Signs its file links (Daytona's download_url and upload_url); made when first asked for.
    signing_key: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    stopped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_activity_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Snapshot(Base):
    """A tenant's named image, built from a Dockerfile by a job on one host's sandbox engine."""

    __tablename__ = "snapshots"
    __table_args__ = (
        Index("ix_snapshots_tenant_seq", "tenant_id", text("seq DESC")),
        Index(
            "uq_snapshots_tenant_name", "tenant_id", "name", unique=True, postgresql_where=text("state <> 'deleted'")
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True))
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(20), default=SnapshotState.PENDING.value)
    dockerfile: Mapped[str] = mapped_column(Text)
    # sha256 of the Dockerfile: a sandbox asked for with the same Dockerfile starts from the same build.
    dockerfile_sha256: Mapped[str] = mapped_column(String(64))
    # Named with a Dockerfile of its own by its creator (Daytona's snapshot.create), or made for a sandbox.
    named: Mapped[bool] = mapped_column(Boolean, default=True)
    # The reference sandboxes start from: a tag on its host's engine, or in the operator's registry.
    image_ref: Mapped[str] = mapped_column(String(300))
    # The host that builds it, and whose engine holds it (the only one, unless it was pushed to a registry).
    host: Mapped[str] = mapped_column(String(200))
    pushed: Mapped[bool] = mapped_column(Boolean, default=False)
    entrypoint: Mapped[list[str] | None] = mapped_column(JSONB)
    # What a sandbox from it gets unless it asks otherwise.
    cpus: Mapped[float | None] = mapped_column(Float)
    memory_bytes: Mapped[int | None] = mapped_column(BigInteger)
    disk_bytes: Mapped[int | None] = mapped_column(BigInteger)
    image_id: Mapped[str | None] = mapped_column(String(100))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)
    # The build's output once it is over (its newest bytes); while it runs, it streams through Redis.
    build_log: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
    built_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Blob(Base):
    """A file body on its way into or out of a sandbox, in chunks: never through Redis."""

    __tablename__ = "blobs"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    complete: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class BlobChunk(Base):
    __tablename__ = "blob_chunks"

    blob_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("blobs.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class Secret(Base):
    """A tenant's secret value: encrypted at rest (core/secret_box.py), never sent back by the API."""

    __tablename__ = "secrets"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_secrets_tenant_name"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True))
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    # The hosts its value is meant for (Daytona's field, recorded: the value is handed over as a variable).
    hosts: Mapped[list[str]] = mapped_column(JSONB, default=list)
    sealed: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class WarmPool(Base):
    """Ready sandboxes of one image that a tenant asks hosts to keep (core/services/warm_pools.py)."""

    __tablename__ = "warm_pools"
    __table_args__ = (Index("ix_warm_pools_tenant", "tenant_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True))
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    snapshot: Mapped[str] = mapped_column(String(300))
    image: Mapped[str] = mapped_column(String(300))
    host: Mapped[str | None] = mapped_column(String(200))
    pool: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
