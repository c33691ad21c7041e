"""A sandbox as a client asked for it, checked field by field against the installation's rules and limits."""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from dataclasses import dataclass

from core.errors import FieldError, InvalidInput
from core.schemas import SnapshotRecord
from core.services.operations import storable
from core.settings import Settings

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
LABEL_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$")
# Docker's image reference: [registry[:port]/]path[:tag][@sha256:digest], the path in lower case (a
# registry has a dot or a port, or is localhost).
_PART = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
IMAGE_REF = re.compile(
    rf"(?=.{{1,200}}$)(?:(?:localhost|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)(?::[0-9]+)?/|[A-Za-z0-9-]+:[0-9]+/)?{_PART}(?:/{_PART})*(?::\w[\w.-]{{0,127}})?(?:@sha256:[0-9a-f]{{64}})?"
)
ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


@dataclass(frozen=True)
class SandboxCreate:
    template: str | None = None
    image: str | None = None
    name: str | None = None
    env: dict[str, str] | None = None
    secrets: dict[str, str] | None = None  # variable -> the tenant's secret name
    labels: dict[str, str] | None = None
    cpus: float | None = None
    memory_bytes: int | None = None
    disk_bytes: int | None = None
    network: bool | None = None  # None: the installation's default (on, fenced)
    egress_allow: list[str] | None = None  # CIDRs; None: the whole fenced internet
    public: bool = False
    auto_stop_s: int | None = None
    auto_delete_s: int | None = None
    auto_archive_s: int | None = None
    auto_pause_s: int | None = None
    ttl_s: int | None = None
    # Set by the service, never by a client: the tenant's own snapshot the template or image names.
    snapshot: SnapshotRecord | None = None


def resolve_template(settings: Settings, name: str | None, field: str = "template") -> tuple[str, str]:
    """A template name (or alias) or an image reference to (template, image).

    A template is one of the installation's own; any other name is an image on the worker's engine
    or one it can pull, if the operator's allow-list admits it (its template is then its own name)."""
    s = settings.sandboxes
    wanted = name or s.default_template
    template = s.aliases.get(wanted, wanted)
    if template in s.templates:
        return template, s.templates[template]
    if not IMAGE_REF.fullmatch(wanted):
        available = ", ".join(sorted(s.templates) + sorted(s.aliases))
        raise InvalidInput.one(
            field, "image", f"{wanted!r} is neither a template ({available}) nor an image reference like debian:12"
        )
    if not any(fnmatch.fnmatchcase(wanted, pattern) for pattern in s.allowed_images):
        raise InvalidInput.one(field, "not_allowed", f"image {wanted!r} is not in this installation's allow-list")
    return wanted, wanted


MAX_EGRESS_RULES = 64


def egress_allow(cidrs: list[str] | None, errors: list[FieldError]) -> list[str] | None:
    """The allow-list as normalised CIDRs (a bare address is its /32 or /128)."""
    if cidrs is None:
        return None
    if len(cidrs) > MAX_EGRESS_RULES:
        errors.append(FieldError("egress_allow", "max_items", f"at most {MAX_EGRESS_RULES} networks", MAX_EGRESS_RULES))
        return None
    networks = []
    for cidr in cidrs:
        try:
            networks.append(str(ipaddress.ip_network(cidr.strip(), strict=False)))
        except ValueError:
            errors.append(FieldError("egress_allow", "cidr", f"{cidr[:60]!r} is not an address or a CIDR block"))
    return networks


def check_map(field: str, values: dict[str, str] | None, key_rule: re.Pattern[str], errors: list[FieldError]) -> None:
    for key, value in (values or {}).items():
        name = f"{field}.{key}" if storable(key) is None else field
        if not key_rule.match(key):
            errors.append(FieldError(name, "key", f"key must match {key_rule.pattern}"))
        if storable(value) or len(value) > 32768:
            errors.append(FieldError(name, "value", "must be valid text of at most 32768 characters, without NUL"))
    if len(values or {}) > 200:
        errors.append(FieldError(field, "max_items", "at most 200 entries", 200))


def bounded(
    field: str, value: float | None, default: float, low: float, high: float, errors: list[FieldError]
) -> float:
    if value is None:
        return default
    if value < low:
        errors.append(FieldError(field, "ge", f"must be greater than or equal to {low:g}", low))
    elif value > high:
        errors.append(FieldError(field, "le", f"must be less than or equal to {high:g}", high))
    return value


@dataclass(frozen=True)
class CheckedCreate:
    """The values a create persists, each checked (or the installation's default)."""

    template: str
    image: str
    cpus: float
    memory_bytes: int
    disk_bytes: int
    auto_stop_s: int
    auto_delete_s: int
    network: bool
    egress_allow: list[str] | None


def check_create(req: SandboxCreate, settings: Settings) -> CheckedCreate:
    """Every field at once: one InvalidInput naming each field that broke a rule."""
    s = settings.sandboxes
    errors: list[FieldError] = []
    template = image = ""
    if req.template and req.image:
        errors.append(FieldError("image", "exclusive", "give a template or an image, not both"))
    snap = req.snapshot
    if snap is not None:
        template, image = snap.name, snap.image_ref
    else:
        try:
            field = "image" if req.image else "template"
            template, image = resolve_template(settings, req.template or req.image, field)
        except InvalidInput as exc:
            errors.extend(exc.errors)
    if req.name is not None and not NAME.match(req.name):
        errors.append(FieldError("name", "pattern", f"must match {NAME.pattern}"))
    check_map("env", req.env, ENV_KEY, errors)
    check_map("labels", req.labels, LABEL_KEY, errors)
    # A snapshot's own resources are the defaults of sandboxes made from it.
    cpus = bounded("cpus", req.cpus, (snap and snap.cpus) or s.cpus, 0.1, s.max_cpus, errors)
    memory_default = (snap and snap.memory_bytes) or s.memory_bytes
    memory = bounded("memory_bytes", req.memory_bytes, memory_default, 64 << 20, s.max_memory_bytes, errors)
    disk_default = (snap and snap.disk_bytes) or s.disk_bytes
    disk = bounded("disk_bytes", req.disk_bytes, disk_default, 16 << 20, s.max_disk_bytes, errors)
    auto_stop = bounded("auto_stop_s", req.auto_stop_s, s.auto_stop_s, 0, 30 * 86400, errors)
    auto_delete = bounded("auto_delete_s", req.auto_delete_s, s.auto_delete_s, 0, 365 * 86400, errors)
    bounded("auto_pause_s", req.auto_pause_s, 0, 0, 30 * 86400, errors)
    bounded("ttl_s", req.ttl_s, 0, 0, 365 * 86400, errors)
    if req.network and not s.network:
        errors.append(FieldError("network", "not_allowed", "sandboxes have no network on this installation"))
    network = s.network if req.network is None else req.network
    allow = egress_allow(req.egress_allow, errors) if network else None
    if errors:
        raise InvalidInput(errors)
    return CheckedCreate(
        template, image, cpus, int(memory), int(disk), int(auto_stop), int(auto_delete), network, allow
    )  # reason: one positional field per attribute, in order  # fmt: skip
