"""runyardctl: the operator's command line (migrations, keys, health)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from core.db import transaction
from core.errors import NotFound
from core.services import keys as key_service
from core.settings import get_settings

app = typer.Typer(help="Operate a Runyard installation.", no_args_is_help=True)
keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
tenants_app = typer.Typer(help="A tenant's own settings.", no_args_is_help=True)
app.add_typer(tenants_app, name="tenants")


def migrate_database() -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    command.upgrade(config, "head")


@app.command()
def migrate() -> None:
    """Bring the database schema up to date (Alembic upgrade head)."""
    migrate_database()
    typer.echo("database is at the newest schema")


@app.command()
def bootstrap(
    quiet: Annotated[bool, typer.Option(help="Print only the key.")] = False,
) -> None:
    """Migrate, then make sure an admin key exists and print it."""
    settings = get_settings()
    migrate_database()
    with transaction(settings) as session:
        key = key_service.bootstrap_admin(session, settings)
    if quiet:
        typer.echo(key)
    else:
        typer.echo(f"admin key: {key}  (stored in {settings.admin_key_file})")


@keys_app.command("create")
def keys_create(
    tenant: Annotated[str, typer.Option(help="Tenant that owns the key; created if new.")],
    name: Annotated[str, typer.Option(help="A label for the key.")] = "",
    admin: Annotated[bool, typer.Option(help="May manage keys through the API.")] = False,
    requests_per_minute: Annotated[int | None, typer.Option(help="Rate limit for this tenant.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Issue a new API key. The key is shown once; only its hash is stored."""
    with transaction(get_settings()) as session:
        issued = key_service.create_key(
            session, tenant=tenant, name=name, admin=admin, requests_per_minute=requests_per_minute
        )
    if as_json:
        typer.echo(json.dumps(issued.as_json()))
    else:
        typer.echo(f"key:             {issued.key}")
        typer.echo(f"tenant:          {issued.tenant}")
        typer.echo(f"callback secret: {issued.callback_secret}")


@keys_app.command("revoke")
def keys_revoke(key: Annotated[str, typer.Argument(help="The key, its id, or its listed prefix.")]) -> None:
    """Revoke a key; requests with it fail from the next few seconds on."""
    try:
        with transaction(get_settings()) as session:
            count = key_service.revoke_key(session, key_or_prefix=key)
    except NotFound as exc:
        typer.echo(exc.message, err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"revoked {count} key(s)")


@keys_app.command("list")
def keys_list() -> None:
    """List keys (prefixes only)."""
    with transaction(get_settings()) as session:
        rows = key_service.list_keys(session)
    for r in rows:
        state = "revoked" if r.revoked_at else "active"
        typer.echo(f"{r.prefix}  {r.key_id}  tenant={r.tenant}  admin={r.is_admin}  {state}  {r.name}")


@tenants_app.command("set")
def tenants_set(
    tenant: Annotated[str, typer.Argument(help="The tenant's name.")],
    sandbox_network: Annotated[
        bool | None,
        typer.Option("--sandbox-network/--no-sandbox-network", help="Whether its sandboxes may have network."),
    ] = None,
    max_sandboxes: Annotated[int | None, typer.Option(min=0, help="Its live sandboxes at most.")] = None,
) -> None:
    """Change a tenant's sandbox settings (those not given stay as they are)."""
    try:
        with transaction(get_settings()) as session:
            row = key_service.set_tenant_sandbox_rules(
                session, tenant, network=sandbox_network, max_sandboxes=max_sandboxes
            )
            network, limit = row.sandbox_network, row.max_sandboxes
    except NotFound as exc:
        typer.echo(exc.message, err=True)
        raise typer.Exit(1) from exc
    shown = {None: "the installation's setting", True: "on", False: "off"}
    typer.echo(f"{tenant}: sandbox network {shown[network]}, max sandboxes {limit if limit is not None else 'default'}")


@app.command()
def check(url: Annotated[str, typer.Option(help="Base URL of the API.")] = "") -> None:
    """Ask the API's /health endpoint; exit 0 when ready."""
    import httpx

    settings = get_settings()
    base = url or f"http://{settings.api.host}:{settings.api.port}"
    try:
        response = httpx.get(f"{base}/health", timeout=5)
    except httpx.HTTPError as exc:
        typer.echo(f"not reachable: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(json.dumps(response.json(), indent=2))
    sys.exit(0 if response.status_code == 200 else 1)


if __name__ == "__main__":
    app()
