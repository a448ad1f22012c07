"""Known failures become one clear line on stderr and an exit code, never a traceback."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy.exc import ArgumentError, OperationalError
from temporalio.service import RPCError

from starter.connections import InvalidConnection
from store.connections import UnknownConnection
from store.vault import KeyFileExposed, VaultError

USAGE = 2  # the operator asked for something that cannot be (bad input, unknown name)
FAILURE = 1  # the request was fine but the environment refused it (server down, conflict)

stderr = Console(stderr=True)

P = ParamSpec("P")
R = TypeVar("R")


class CliError(Exception):
    """A failure whose message already tells the operator what happened and what to do."""

    def __init__(self, message: str, code: int = FAILURE) -> None:
        super().__init__(message)
        self.code = code


def fail(message: str, code: int) -> typer.Exit:
    # Escaped: messages quote operator input ("[/x]" in a URL would be a markup error).
    stderr.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def handle_errors(command: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except CliError as exc:
            raise fail(str(exc), exc.code) from None
        except (UnknownConnection, InvalidConnection) as exc:
            raise fail(str(exc), USAGE) from None
        except KeyFileExposed as exc:  # the operator's to fix, like a bad setting
            raise fail(f"vault: {exc}", USAGE) from None
        except VaultError as exc:
            raise fail(f"vault: {exc}", FAILURE) from None
        except RPCError as exc:
            raise fail(f"Temporal refused the request: {exc.message}", FAILURE) from None
        except (OperationalError, ArgumentError) as exc:
            reason = getattr(exc, "orig", None) or exc
            raise fail(f"database unavailable: {str(reason).strip().splitlines()[0]}",
                       FAILURE) from None

    return wrapper
