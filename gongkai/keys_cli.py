"""`gongkai keys create|list|revoke`: API keys, straight in Redis (GONGKAI_REDIS_URL), no API needed.

A key is printed once, when it is made; only its SHA-256 is stored, so a lost key is revoked and
replaced, never recovered.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from gongkai.settings import get_settings

if TYPE_CHECKING:
    from storage.apikeys import ApiKeyStore

app = typer.Typer(help="API keys: each belongs to one tenant, whose documents it sees.", no_args_is_help=True)
console = Console()
err = Console(stderr=True)


def _store() -> ApiKeyStore:
    # Imported here: the storage package (minio, redis) would slow every other `gongkai` command.
    from storage.apikeys import ApiKeyStore
    from storage.jobs import make_redis

    return ApiKeyStore(make_redis(get_settings()))


@app.command()
def create(tenant: Annotated[str, typer.Argument(help="tenant id (a-z 0-9 _ . -)")]) -> None:
    """Make a key for TENANT and print it (the only time it is shown)."""
    from storage.apikeys import InvalidTenant

    try:
        key, record = _store().create(tenant)
    except InvalidTenant as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from exc
    err.print(f"key {record.key_id} for tenant {record.tenant} (shown once; store it now):")
    print(key)  # plain stdout, so `KEY=$(gongkai keys create t)` captures exactly the key


@app.command("list")
def list_keys() -> None:
    """Tenants and their key ids (never the keys)."""
    table = Table("tenant", "key id", "created")
    for record in _store().list():
        table.add_row(record.tenant, record.key_id, record.created.isoformat(timespec="seconds"))
    console.print(table)


@app.command()
def revoke(key_id: Annotated[str, typer.Argument(help="key id (from `gongkai keys list`)")]) -> None:
    """Revoke a key at once: requests with it are refused from now on."""
    if not _store().revoke(key_id):
        err.print(f"[red]no key with id {key_id}[/]")
        raise typer.Exit(1)
    console.print(f"revoked {key_id}")
