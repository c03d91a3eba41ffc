"""The `graphapi` command."""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import sys
from pathlib import Path

from graphapi.settings import SettingsError, load_settings


def _settings():
    try:
        return load_settings()
    except SettingsError as exc:
        sys.exit(f"graphapi: {exc}")


def _migrate(settings) -> None:
    import asyncpg
    from tortoise.exceptions import BaseORMException

    from graphapi.db import migrate

    try:
        applied = asyncio.run(migrate(settings.database_url))
    except (OSError, asyncpg.PostgresError, BaseORMException, sqlite3.Error) as exc:
        # No such database or role, an unreachable server, an unreadable file.
        sys.exit(f"graphapi: cannot open the database ({exc}); check GRAPHAPI_DATABASE_URL")
    for name in applied:
        print(f"applied migration {name}")


def serve(args: argparse.Namespace) -> None:
    import uvicorn

    settings = _settings()
    _migrate(settings)
    uvicorn.run(
        "graphapi.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        proxy_headers=False,  # graphapi reads X-Forwarded-For itself, from trusted proxies only
        server_header=False,
        log_level="info",
        # A line per click costs more than recording the click; off unless asked.
        access_log=args.access_log,
    )


def migrate(args: argparse.Namespace) -> None:
    settings = _settings()
    _migrate(settings)
    print("database is up to date")


def create_api_key(args: argparse.Namespace) -> None:
    from graphapi.api_keys import create_key

    settings = _settings()
    _migrate(settings)
    key = asyncio.run(create_key(settings.database_url, args.name))
    print(f"API key {args.name!r} created. It is shown once and stored only as a hash:")
    print(key)


def revoke_api_key(args: argparse.Namespace) -> None:
    from graphapi.api_keys import revoke_keys

    settings = _settings()
    _migrate(settings)
    count = asyncio.run(revoke_keys(settings.database_url, args.name))
    if not count:
        sys.exit(f"graphapi: no live API key named {args.name!r}")
    print(f"revoked {count} API key(s) named {args.name!r}")


def export_schema(args: argparse.Namespace) -> None:
    import schema

    try:
        print(f"wrote {schema.export(args.output) if args.output else schema.export()}")
    except OSError as exc:
        sys.exit(f"graphapi: cannot write the schema: {exc}")


def plugins(args: argparse.Namespace) -> None:
    from graphapi.plugins import Plugins

    loaded = Plugins(_settings())
    rows = [("NAME", "ORIGIN", "VERSION", "HOOKS")]
    rows += [(p.name, p.origin, p.version or "-", ", ".join(p.hooks)) for p in loaded.loaded()]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[3])
    for error in loaded.errors:
        print(f"FAILED {error.name} ({error.origin}): {error.error}", file=sys.stderr)
    if loaded.errors:
        sys.exit(1)


def _port(text: str) -> int:
    port = _whole(text)
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 1 to 65535, not {text}")
    return port


def _workers(text: str) -> int:
    workers = _whole(text)
    # More than a few per core only costs memory: 100,000 ran a machine out of it.
    most = 4 * (os.cpu_count() or 1)
    if not 1 <= workers <= most:
        raise argparse.ArgumentTypeError(f"1 to {most} workers (4 per core), not {text}")
    return workers


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def _key_name(text: str) -> str:
    # The column holds 255 characters; a blank name could not be revoked by name.
    if not text.strip() or len(text) > 255:
        raise argparse.ArgumentTypeError("a key's name is 1 to 255 characters, not blank")
    return text


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="graphapi", description="Self-hosted conversion tracker.")
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser(
        "serve", help="apply pending migrations, then serve", formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=_port, default=8000, help="port to listen on")
    p.add_argument("--workers", type=_workers, default=1, help="server processes")
    p.add_argument("--access-log", action="store_true", help="log every request")
    p.set_defaults(func=serve)

    p = commands.add_parser("migrate", help="apply pending migrations")
    p.set_defaults(func=migrate)

    p = commands.add_parser("create-api-key", help="create an API key and print it")
    p.add_argument("name", type=_key_name)
    p.set_defaults(func=create_api_key)

    p = commands.add_parser("revoke-api-key", help="revoke the API keys of that name")
    p.add_argument("name", type=_key_name)
    p.set_defaults(func=revoke_api_key)

    p = commands.add_parser("export-schema", help="write the GraphQL SDL (schema/schema.graphql)")
    p.add_argument("--output", type=Path, default=None)
    p.set_defaults(func=export_schema)

    p = commands.add_parser("plugins", help="list the loaded plugins")
    p.set_defaults(func=plugins)

    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
