"""All configuration, from environment variables prefixed RUNYARD_ (nested with __).

Example: RUNYARD_DATABASE__URL, RUNYARD_LIMITS__MAX_CPU_TIME_LIMIT_S, RUNYARD_API_KEY.
Reach it through get_settings(); nothing builds it at import time.
"""

from __future__ import annotations

import socket
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DB_PASSWORD = "runyard"  # noqa: S105 - the development default, refused in production


class DatabaseSettings(BaseModel):
    url: str = f"postgresql+psycopg://runyard:{DEFAULT_DB_PASSWORD}@127.0.0.1:5432/runyard"
    pool_size: int = 10
    connect_timeout_s: float = 5.0


class RedisSettings(BaseModel):
    url: str = "redis://127.0.0.1:6379/0"
    socket_timeout_s: float = 5.0


class ApiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8000
    # Seconds a wait=true request waits beyond the run's own time budget.
    wait_margin_s: float = 5.0
    max_body_bytes: int = 48 << 20
    # Seconds an authenticated key stays cached in each API process.
    auth_cache_s: float = 5.0
    # The URL clients reach this API at, for links the API hands out (Daytona's toolbox and preview
    # URLs); unset, each request's own base URL is used.
    public_url: str | None = None


class LimitSettings(BaseModel):
    """Defaults and maxima for a run (Judge0's names and units where Judge0 has them)."""

    cpu_time_limit_s: float = 5.0
    max_cpu_time_limit_s: float = 15.0
    cpu_extra_time_s: float = 1.0
    max_cpu_extra_time_s: float = 5.0
    wall_time_limit_s: float = 10.0
    max_wall_time_limit_s: float = 20.0
    memory_limit_kb: int = 128_000
    max_memory_limit_kb: int = 512_000
    stack_limit_kb: int = 64_000
    max_stack_limit_kb: int = 128_000
    max_processes_and_or_threads: int = 60
    max_max_processes_and_or_threads: int = 120
    max_file_size_kb: int = 1024
    max_max_file_size_kb: int = 4096
    number_of_runs: int = 1
    max_number_of_runs: int = 20
    output_limit_bytes: int = 1 << 20
    max_output_limit_bytes: int = 8 << 20
    max_extract_size_kb: int = 10_240
    max_archive_entries: int = 2000
    max_source_bytes: int = 4 << 20
    max_stdin_bytes: int = 16 << 20
    max_archive_bytes: int = 16 << 20
    max_options_length: int = 512
    open_files: int = 256
    # Compilation runs under the maxima, as in Judge0.
    compile_output_limit_bytes: int = 1 << 20
    # Per run container
    cpus: float = 1.0
    workdir_bytes: int = 64 << 20
    tmp_bytes: int = 64 << 20


class QueueSettings(BaseModel):
    max_queued: int = 10_000
    # A queued job untouched this long is sent to the broker again (its message may be lost).
    requeue_after_s: float = 300.0
    # A worker host silent this long is lost: its sandboxes become errored and their waiting jobs fail.
    host_lost_after_s: float = 300.0
    # A job whose enqueue failed is sent again after this long.
    enqueue_retry_after_s: float = 5.0
    lease_margin_s: float = 30.0
    max_attempts: int = 3
    sweep_interval_s: float = 10.0


class WorkerSettings(BaseModel):
    name: str = Field(default_factory=socket.gethostname)
    # Runs executed at once by one worker process (Celery threads; each holds a warm sandbox).
    concurrency: int = 8
    docker_url: str | None = None
    # The run images, one per family of languages; the first one's pool is warmed at start, the others' as
    # their languages are first asked for.
    images: list[str] = [
        "runyard/runner:latest",
        "runyard/scripting:latest",
        "runyard/native:latest",
        "runyard/jvm:latest",
        "runyard/dotnet:latest",
        "runyard/systems:latest",
        "runyard/functional:latest",
    ]
    sandbox_uid: int = 64000
    sandbox_gid: int = 64000
    # Memory above the run's limit that the container may use: the agent and
    # launcher live in the same cgroup as the program they judge.
    agent_memory_overhead_bytes: int = 32 << 20
    agent_pids_overhead: int = 8
    # Seconds allowed beyond a step's own wall limit before the worker kills the container.
    exec_margin_s: float = 15.0
    heartbeat_interval_s: float = 5.0
    heartbeat_ttl_s: float = 20.0
    # The most warm sandboxes kept per image; None means one per concurrent run plus two being reset. The
    # first image's pool is kept that full; another family's pool follows its demand (below).
    pool_size: int | None = None
    # Warm sandboxes another family's pool keeps once its languages were asked for, however quiet it is.
    pool_min_size: int = 1
    # A family's pool holds the most runs it served at once over this many seconds, plus one spare.
    pool_demand_window_s: float = 300.0
    # A sandbox is replaced, not reset, after this many runs.
    pool_max_uses: int = 500
    # Seconds a run waits for a free sandbox before its attempt fails (and is retried).
    acquire_timeout_s: float = 60.0
    # Inodes per writable tmpfs (/box, /tmp): bounds "thousands of files".
    inodes: int = 16384
    # Docker network for runs that asked for network access (see docs/security.md); "" disables it.
    egress_network: str = "runyard-egress"
    egress_pool_size: int = 1
    # Celery task events feed Flower's task views (Flower follows this setting). They cost about 4 ms of CPU
    # per job all told: off, a 2-core machine did 78 print(1) runs/s instead of 66 (docs/benchmarks.md).
    task_events: bool = True
    # The host whose Docker engine this worker drives; sandboxes placed here are served from its
    # own queue. Empty means the worker's name. One worker process serves each host name.
    host: str = ""

    @property
    def host_name(self) -> str:
        return self.host or self.name

    @property
    def effective_pool_size(self) -> int:
        return self.pool_size if self.pool_size is not None else self.concurrency + 2


class SandboxSettings(BaseModel):
    """Persistent sandboxes for agents: templates, defaults, maxima and housekeeping."""

    # The Docker engine sandboxes run on (scripts/sandbox-engine.sh): user-namespace remapped, disk
    # quotas on btrfs, its own fenced bridge. Never the engine one-shot runs use.
    docker_url: str = "unix:///run/runyard-sandboxes/docker.sock"
    # The read-only volume mounted at /opt/runyard in every sandbox: our agent and the Python it runs on.
    runtime_image: str = "runyard/runtime:latest"
    # Images tenants may start sandboxes from (shell-style patterns; templates always may). "*": any image,
    # as on Daytona; e.g. ["docker.io/library/*", "registry.example.com/*"] to narrow it.
    allowed_images: list[str] = ["*"]
    # Bound what each sandbox writes with --storage-opt size (disk_bytes). Needs an engine whose storage
    # has quotas: btrfs (scripts/sandbox-engine.sh), or overlay2 on XFS with pquota. Off: no hard limit.
    disk_quota: bool = True
    # Outbound network for sandboxes (fenced: see docs/security.md); false turns it off for everyone.
    network: bool = True
    # Template names clients may ask for, and the image each starts.
    templates: dict[str, str] = {"agent": "runyard/agent:latest", "desktop": "runyard/desktop:latest"}
    default_template: str = "agent"
    # Other names accepted for a template: SandboxAI's default image, say, or SUNA's snapshot name.
    aliases: dict[str, str] = {"default": "agent", "substratusai/sandboxai-box:v0.2.0": "agent"}
    # Live (not deleted) sandboxes per tenant, unless the tenant has its own figure.
    max_per_tenant: int = 20
    cpus: float = 1.0
    max_cpus: float = 2.0
    memory_bytes: int = 1 << 30
    max_memory_bytes: int = 4 << 30
    disk_bytes: int = 2 << 30
    max_disk_bytes: int = 20 << 30
    pids: int = 512
    # Seconds idle before a sandbox stops, and stopped before it is deleted; 0 means never.
    auto_stop_s: int = 15 * 60
    auto_delete_s: int = 0
    exec_timeout_s: float = 60.0
    max_exec_timeout_s: float = 3600.0
    output_bytes: int = 1 << 20
    max_output_bytes: int = 8 << 20
    # What a session command keeps of its output: the newest bytes.
    log_bytes: int = 1 << 20
    max_file_bytes: int = 128 << 20
    chunk_bytes: int = 1 << 20
    # Seconds a lifecycle request (create, start, stop, delete) with wait=true waits.
    lifecycle_wait_s: float = 60.0
    # Ready sandboxes each worker keeps of the default template, for a fast create; 0 keeps none at all.
    pool_size: int = 2
    # Besides, one ready sandbox of each of the most recent few other images sandboxes were created from,
    # until none has been for this many seconds.
    image_pools: int = 3
    # The most ready sandboxes a tenant's warm pools (Daytona's warm_pool) may ask each host to keep, in all.
    max_warm_per_tenant: int = 4
    image_pool_idle_s: float = 600.0
    # Seconds between a host's looks at its started sandboxes' containers: one that stopped behind
    # its back (the Docker engine restarted, say) is marked error then, not when the next operation fails.
    watch_interval_s: float = 10.0
    # Seconds between samples of each started sandbox's CPU, memory and disk (its history, for
    # Daytona's get_metrics; 0: none), and how long samples are kept.
    metrics_interval_s: float = 15.0
    metrics_keep_s: float = 86400.0
    # Hand a sandbox its secrets (Daytona's secrets=) as plain environment variables. Off: attaching one is
    # refused, since code in the sandbox (an agent tricked into it, say) could then read and leak the value.
    secrets_as_env: bool = False


class SnapshotSettings(BaseModel):
    """Snapshots: tenants' own images, built from a Dockerfile as jobs on a host's sandbox engine."""

    # Named snapshots per tenant (builds made for a sandbox from a Dockerfile count too).
    max_per_tenant: int = 20
    max_dockerfile_bytes: int = 64 << 10
    # A build that runs longer is stopped and fails.
    build_timeout_s: float = 1800.0
    # Memory of each build step's container (no swap beyond it).
    build_memory_bytes: int = 2 << 30
    # What is kept of a build's output once it is over (its newest bytes); while it runs, it streams.
    log_bytes: int = 1 << 20
    # Seconds the live build output stays in Redis after the build ends (Postgres keeps it after).
    live_log_ttl_s: float = 3600.0
    # A registry ("host[:port]/path") the building host pushes each snapshot to, so any host can start
    # sandboxes from it (pulling it once). Unset: a snapshot lives on the host that built it, and its
    # sandboxes are placed there.
    registry: str | None = None


class RetentionSettings(BaseModel):
    """How long finished work is kept (seconds; 0 keeps it forever). Purged by the sweep, in batches."""

    # Finished runs, with their source, input and output.
    runs_ttl_s: float = 30 * 86400
    # Finished sandbox jobs (their results hold command output).
    sandbox_jobs_ttl_s: float = 7 * 86400
    # Rows of deleted sandboxes (their containers and volumes are gone already), and of deleted snapshots.
    deleted_sandboxes_ttl_s: float = 30 * 86400
    # File bodies a crash left behind (they are normally removed once delivered).
    blobs_ttl_s: float = 86400
    batch: int = 1000


class CallbackSettings(BaseModel):
    # Hostnames, IP addresses or CIDR blocks a callback may reach although they are not public.
    allow_hosts: list[str] = []
    max_tries: int = 8
    timeout_s: float = 5.0
    backoff_base_s: float = 1.0
    backoff_max_s: float = 300.0
    resolve_timeout_s: float = 3.0


class RateSettings(BaseModel):
    requests_per_minute: int = 6000


class FlowerSettings(BaseModel):
    port: int = 5555
    user: str = "admin"
    password: SecretStr | None = None


class SshSettings(BaseModel):
    """The SSH gateway (runyard-ssh): access tokens as user names put their holder in a sandbox's shell."""

    host: str = "127.0.0.1"  # as the API: an operator opens it wider
    port: int = 2222
    # Where clients reach it, in the ssh command handed out; the API's own host name when unset.
    public_host: str | None = None
    public_port: int | None = None
    # The gateway's host key (made on its first start when missing); under state_dir when relative.
    host_key: Path = Path("ssh_host_ed25519_key")
    default_minutes: int = 60


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RUNYARD_", env_nested_delimiter="__", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    # Names this installation on shared Docker engines: workers only ever reap their own cluster's sandboxes.
    cluster: str = "default"
    log_level: str = "INFO"
    log_json: bool = True
    state_dir: Path = Path(".runyard")
    # The admin key to bootstrap at first start; generated when unset.
    api_key: SecretStr | None = None
    # The key tenants' secrets are encrypted with (a Fernet key); unset: state_dir/secrets.key, made once.
    secrets_key: SecretStr | None = None
    max_batch_size: int = 20
    allow_enable_network: bool = False

    database: DatabaseSettings = DatabaseSettings()
    redis: RedisSettings = RedisSettings()
    api: ApiSettings = ApiSettings()
    limits: LimitSettings = LimitSettings()
    queue: QueueSettings = QueueSettings()
    worker: WorkerSettings = WorkerSettings()
    callbacks: CallbackSettings = CallbackSettings()
    sandboxes: SandboxSettings = SandboxSettings()
    snapshots: SnapshotSettings = SnapshotSettings()
    retention: RetentionSettings = RetentionSettings()
    rate: RateSettings = RateSettings()
    flower: FlowerSettings = FlowerSettings()
    ssh: SshSettings = SshSettings()

    @model_validator(mode="after")
    def _no_placeholder_secrets_in_production(self) -> Settings:
        if self.env == "production" and f":{DEFAULT_DB_PASSWORD}@" in self.database.url:
            raise ValueError("RUNYARD_DATABASE__URL still uses the default password; set a real one in production")
        return self

    @property
    def admin_key_file(self) -> Path:
        return self.state_dir / "admin.key"


@lru_cache
def get_settings() -> Settings:
    return Settings()
