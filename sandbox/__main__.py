"""python -m sandbox: serve a HubSpot sandbox until SIGINT/SIGTERM, printing fake credentials."""

from __future__ import annotations

import argparse
import socket

import uvicorn

from sandbox.hubspot_app import create_app
from sandbox.hubspot_state import HubSpotSandbox


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8787)
    parser.add_argument("--contacts", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--invalid", type=int, default=0, help="number of contacts with an invalid email"
    )
    parser.add_argument(
        "--rate-limit", type=int, default=100, help="requests per interval for list/read"
    )
    parser.add_argument("--interval-ms", type=int, default=10_000)
    parser.add_argument("--search-per-second", type=int, default=5)
    parser.add_argument("--daily-limit", type=int, default=None)
    parser.add_argument(
        "--token-ttl", type=float, default=1800, help="access token lifetime in seconds"
    )
    parser.add_argument("--companies", type=int, default=0)
    parser.add_argument("--deals", type=int, default=0)
    args = parser.parse_args(argv)

    sandbox = HubSpotSandbox(
        seed=args.seed,
        contacts=args.contacts,
        invalid_contacts=args.invalid,
        rate_limit=args.rate_limit,
        interval_ms=args.interval_ms,
        search_per_second=args.search_per_second,
        daily_limit=args.daily_limit,
        token_ttl_s=args.token_ttl,
        companies=args.companies,
        deals=args.deals,
    )
    # IPPROTO_TCP: asyncio then sets TCP_NODELAY (see server.py).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    # Bound before printing, so a reader of these lines can connect at once (the backlog queues it).
    print(f"url=http://{args.host}:{sock.getsockname()[1]}", flush=True)
    for key, value in sandbox.credentials().items():
        print(f"{key}={value}", flush=True)
    config = uvicorn.Config(
        create_app(sandbox), log_level="warning", access_log=False, lifespan="off"
    )
    uvicorn.Server(config).run(sockets=[sock])  # uvicorn handles SIGINT/SIGTERM on the main thread


if __name__ == "__main__":
    main()
