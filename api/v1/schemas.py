"""Request bodies of the native API."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from core.views import RunView


class LimitsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cpu_time_ms: int | None = Field(default=None, description="CPU time the program may use")
    cpu_extra_time_ms: int | None = Field(default=None, description="Grace CPU time before it is killed")
    wall_time_ms: int | None = None
    memory_bytes: int | None = None
    stack_bytes: int | None = None
    processes: int | None = Field(default=None, description="Processes and threads")
    file_size_bytes: int | None = Field(default=None, description="Largest file the program may write")
    output_bytes: int | None = Field(default=None, description="Cap on each of stdout and stderr")
    runs: int | None = Field(default=None, description="How many times to run; time and memory are averaged")


class RunCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    language: int | str = Field(description="A language id (as in /v1/languages) or an alias such as 'python'")
    source: str | None = Field(default=None, description="Source code as text")
    source_base64: str | None = Field(default=None, description="Source code as base64, for binary sources")
    archive_base64: str | None = Field(
        default=None, description="A zip extracted into the working directory (required for multi-file programs)"
    )
    stdin: str | None = None
    stdin_base64: str | None = None
    expected_output: str | None = Field(default=None, description="When given, a mismatch is a wrong_answer")
    args: list[str] = Field(default_factory=list, description="Command-line arguments")
    compiler_options: list[str] = Field(default_factory=list)
    redirect_stderr: bool = False
    callback_url: str | None = Field(default=None, description="Receives a signed PUT with the finished run")
    limits: LimitsIn = Field(default_factory=LimitsIn)


class BatchCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    runs: list[RunCreate] = Field(min_length=1)


class LanguageOut(BaseModel):
    id: int
    name: str
    aliases: list[str]
    compiled: bool
    multi_file: bool


class RunPage(BaseModel):
    items: list[RunView]
    total: int
    offset: int
    limit: int


class Me(BaseModel):
    tenant: str
    tenant_id: str
    admin: bool
    callback_secret: str = Field(description="Verifies X-Runyard-Signature on callbacks")
    requests_per_minute: int
