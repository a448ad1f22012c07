"""`python -m starter`: connections, syncs, status and the demo.

Configuration comes from the environment: DATABASE_URL, TRIBUTARY_HOME, TEMPORAL_ADDRESS,
TEMPORAL_NAMESPACE (see README.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from connectors.registry import SETTINGS, uses_refresh_token
from connectors.rest_config import load_config
from starter import connections as connection_service
from starter import status_view
from starter.errors import USAGE, CliError, handle_errors, stderr
from starter.rejected_cli import app as rejected_app
from starter.schedule_cli import app as schedule_app
from starter.secrets_input import offered, read_secrets
from starter.status import collect
from starter.sync_cli import app as sync_app
from store import connections
from store.db import engine

app = typer.Typer(
    help="Tributary's operator CLI. Configured by DATABASE_URL, TRIBUTARY_HOME, TEMPORAL_ADDRESS "
    "and TEMPORAL_NAMESPACE (see README.md).",
    no_args_is_help=True, pretty_exceptions_enable=False,
)
connection_app = typer.Typer(help="Add, update, list and remove connections.",
                             no_args_is_help=True)
app.add_typer(connection_app, name="connection")
app.add_typer(sync_app, name="sync")
app.add_typer(rejected_app, name="rejected")
app.add_typer(schedule_app, name="schedule")
console = Console()

SecretsFile = Annotated[Path | None, typer.Option(
    "--secrets-file", help='JSON {"client_secret": ..., "refresh_token": ...}; else the env vars '
    "TRIBUTARY_CLIENT_SECRET / TRIBUTARY_REFRESH_TOKEN; else a hidden prompt.")]
BaseUrl = Annotated[str | None, typer.Option("--base-url", help="Provider API base URL.")]
TokenUrl = Annotated[str | None, typer.Option("--token-url", help="OAuth token endpoint.")]
ClientId = Annotated[str | None, typer.Option("--client-id", help="OAuth client id.")]
ConfigFile = Annotated[Path | None, typer.Option(
    "--config", help="JSON file of further settings (page sizes, lookback, mappings, ...).")]


def _settings(config_file: Path | None, **flags: str | None) -> dict[str, Any]:
    """Settings from the config file, overridden by the flags that were given."""
    settings: dict[str, Any] = {}
    if config_file is not None:
        try:
            settings = load_config(config_file)
        except OSError as exc:
            raise CliError(f"cannot read {config_file}: {exc.strerror}", USAGE) from None
        except ValueError as exc:  # the message names the file and what is wrong with it
            raise CliError(str(exc), USAGE) from None
    settings.update({key: value for key, value in flags.items() if value is not None})
    return settings


@connection_app.command("add")
@handle_errors
def connection_add(
    name: str,
    tenant: Annotated[str, typer.Option("--tenant", help="Whose account this is.")],
    provider: Annotated[str, typer.Option("--provider", help=f"One of {sorted(SETTINGS)}.")],
    client_id: ClientId = None,
    base_url: BaseUrl = None,
    token_url: TokenUrl = None,
    config: ConfigFile = None,
    secrets_file: SecretsFile = None,
) -> None:
    """Register a connection; settings are checked now (and, for HubSpot, that the portal has
    the properties the mappings read), secrets go to the encrypted vault."""
    settings = _settings(config, base_url=base_url, token_url=token_url, client_id=client_id)
    connection_service.validate(provider, settings)  # before prompting for secrets
    secrets = read_secrets(secrets_file, refresh_token=uses_refresh_token(settings))
    warning = connection_service.add(name, provider, tenant, settings, secrets, check=True)
    if warning:
        stderr.print(f"warning: {warning}", style="yellow", highlight=False, markup=False,
                     soft_wrap=True)
    console.print(f"added connection [bold]{name}[/] ({provider}, tenant {tenant})")


@connection_app.command("update")
@handle_errors
def connection_update(
    name: str,
    client_id: ClientId = None,
    base_url: BaseUrl = None,
    token_url: TokenUrl = None,
    config: ConfigFile = None,
    secrets_file: SecretsFile = None,
    reauthorize: Annotated[bool, typer.Option(
        "--reauthorize", help="Replace the credentials: asks for them (hidden prompt) unless "
        "--secrets-file or the env vars give them.")] = False,
) -> None:
    """Change a connection's settings, and its credentials when given (re-authorization)."""
    changes = _settings(config, base_url=base_url, token_url=token_url, client_id=client_id)
    with engine().connect() as conn:
        row = connections.get(conn, name)  # fail on a typo before prompting for secrets
    merged = {**row.config, **changes}
    if changes:
        connection_service.validate(row.provider, merged)  # before prompting, too
    # Settings alone keep the stored credentials; new ones are asked for only on request.
    replace = reauthorize or offered(secrets_file)
    if not changes and not replace:
        raise CliError("nothing to update: give settings (--config, --base-url, --token-url, "
                       "--client-id) or new credentials (--reauthorize, --secrets-file, or "
                       "TRIBUTARY_CLIENT_SECRET / TRIBUTARY_REFRESH_TOKEN)", USAGE)
    secrets = read_secrets(secrets_file, refresh_token=uses_refresh_token(merged)) \
        if replace else None
    connection_service.update(name, changes, secrets)
    done = [f"settings {sorted(changes)} changed"] if changes else []
    done += ["credentials replaced"] if secrets is not None else []
    console.print(f"updated connection [bold]{name}[/]: {', '.join(done)}")


@connection_app.command("list")
@handle_errors
def connection_list() -> None:
    """Connections and their endpoints (never their secrets)."""
    with engine().connect() as conn:
        rows = connections.all_(conn)
    table = Table("name", "provider", "tenant", "base url")
    for row in rows:
        base_url = row.config.get("base_url") or "(provider default)"
        table.add_row(row.name, row.provider, row.tenant, escape(base_url))  # not markup
    console.print(table if rows else "no connections (add one with `connection add`)")


@connection_app.command("remove")
@handle_errors
def connection_remove(
    name: str, yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False
) -> None:
    """Remove a connection, its credentials, stream state and rejected records."""
    with engine().connect() as conn:
        connections.get(conn, name)
    if not yes:
        typer.confirm(f"remove connection {name!r} and its credentials and state?", abort=True)
    connection_service.remove(name)
    console.print(f"removed connection [bold]{name}[/]")


@app.command("status")
@handle_errors
def status(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per stream.")] = False,
    watch: Annotated[bool, typer.Option("--watch", help="Refresh live until Ctrl-C.")] = False,
    interval: Annotated[float, typer.Option(
        min=0.2, help="Seconds between refreshes with --watch.")] = 2.0,
) -> None:
    """Health of every (connection, stream); works from the database when Temporal is down."""
    if watch:
        if as_json:
            raise CliError("--watch draws a table; for machines poll `status --json`", USAGE)
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(status_view.watch(console, interval))
        return
    rows, warning = asyncio.run(collect())
    if warning:
        stderr.print(warning, style="yellow", highlight=False)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    console.print(status_view.render(rows, None))


@app.command("demo")
@handle_errors
def demo(
    keep: Annotated[bool, typer.Option("--keep", help="Leave the servers running.")] = False,
    contacts: Annotated[int, typer.Option(min=100, help="Contacts in the sandbox.")] = 3000,
    port: Annotated[int, typer.Option(help="Temporal dev server port.")] = 7233,
    ui_port: Annotated[int, typer.Option(help="Temporal Web UI port.")] = 8233,
) -> None:
    """Run Temporal, the HubSpot sandbox and a worker, and sync through injected faults."""
    from starter.demo import run_demo  # the demo's imports are not needed by other commands

    run_demo(keep=keep, contacts=contacts, port=port, ui_port=ui_port)
