"""Settings from the environment (and a `.env` file in the working folder).

Every setting is validated when the server starts: a bad value stops it with a
message that names the variable, rather than failing later on a click.
"""

from __future__ import annotations

import ipaddress
from decimal import Decimal
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import iso4217
from pydantic import AfterValidator, Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from graphapi.money import parse_amount

ENV_PREFIX = "GRAPHAPI_"


def _csv(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def _networks(value: object) -> object:
    items = _csv(value)
    for item in items:
        ipaddress.ip_network(item, strict=False)
    return items


def _currency_code(value: str) -> str:
    code = value.strip().upper()
    try:
        iso4217.Currency(code)
    except ValueError:
        raise ValueError(f"must be an ISO-4217 code such as USD, got {value!r}") from None
    return code


def _rates(value: object) -> object:
    if not isinstance(value, str):
        return value
    rates: dict[str, Decimal] = {}
    for item in _csv(value):
        code, _, rate = item.partition("=")
        amount = parse_amount(rate.strip())
        if not amount:
            raise ValueError(f"expected CODE=RATE pairs with a positive rate (e.g. EUR=1.08), got {item!r}")
        rates[_currency_code(code)] = amount
    return rates


def _absolute_http_url(value: str | None, what: str) -> str | None:
    if value is None or value == "":
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{what} must be an absolute http(s) URL, got {value!r}")
    return value


class Settings(BaseSettings):
    # An empty variable (GRAPHAPI_POSTBACK_TOKEN=) is an unset one, as a user
    # clearing it means: not a token of no characters that refuses every postback.
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", extra="ignore", frozen=True, env_ignore_empty=True
    )

    database_url: str = "sqlite://graphapi.sqlite3"
    public_url: str = "http://localhost:8000"
    # Surrounding spaces are a copy-and-paste's, and a blank token is no token.
    postback_token: Annotated[str | None, AfterValidator(lambda token: token and token.strip() or None)] = None
    fallback_url: str | None = None
    plugins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    currency: str = "USD"
    # Peers whose X-Forwarded-For is believed: loopback by default, so a local
    # reverse proxy (nginx, caddy) works out of the box and nobody else can
    # spoof an address.
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["127.0.0.0/8", "::1/128"]
    )
    # Units of `currency` per one unit of each other currency: "EUR=1.08,GBP=1.27".
    currency_rates: Annotated[dict[str, Decimal], NoDecode] = Field(default_factory=dict)
    # When set, postbacks are taken only from these networks (CIDRs).
    postback_allowed_ips: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # How long a visitor's click counts as the same visit for uniqueness.
    unique_window_hours: int = Field(default=24, ge=1, le=24 * 365)
    # Rule plugins (graphapi.plugins, graphapi.rule_engine, graphapi.webhooks).
    disable_plugins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    rule_timeout_seconds: float = Field(default=10.0, gt=0, le=600)
    # How often the rule engine looks for work nobody announced (another SQLite
    # process, a crash), and how long a claimed event is left to its claimer.
    rules_poll_seconds: float = Field(default=5.0, gt=0, le=3600)
    rules_lease_seconds: float = Field(default=300.0, gt=0, le=86400)
    # How often rule plugins check the active campaigns (graphapi.rule_checks).
    rules_check_seconds: float = Field(default=60.0, gt=0, le=86400)
    webhook_allow_private: bool = False
    webhook_secret: str | None = None
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=120)

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        scheme = value.split("://", 1)[0] if "://" in value else ""
        if scheme not in ("sqlite", "postgres", "postgresql", "asyncpg"):
            raise ValueError(
                "must start with sqlite:// or postgres:// "
                f"(e.g. postgres://user@127.0.0.1:5432/graphapi), got {value!r}"
            )
        if scheme == "sqlite":
            # Checked here: SQLite would fail to open the file only inside
            # tortoise, which then waits forever on its connection lock.
            path = value.split("://", 1)[1].split("?", 1)[0]
            if not path:
                raise ValueError(f"needs the SQLite file's path (e.g. sqlite://graphapi.sqlite3), got {value!r}")
            if path != ":memory:" and not Path(path).parent.is_dir():
                raise ValueError(f"the folder of the SQLite file {path!r} does not exist")
        return value

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        url = _absolute_http_url(value, "public URL")
        if url is None:
            raise ValueError("public URL must be an absolute http(s) URL, got ''")
        return url.rstrip("/")

    @field_validator("fallback_url")
    @classmethod
    def _fallback_url(cls, value: str | None) -> str | None:
        return _absolute_http_url(value, "fallback URL")

    @field_validator("plugins", mode="before")
    @classmethod
    def _plugins(cls, value: object) -> object:
        return _csv(value)

    @field_validator("disable_plugins", mode="before")
    @classmethod
    def _disable_plugins(cls, value: object) -> object:
        return _csv(value)

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: str | None) -> str | None:
        from graphapi.webhooks import decode_secret

        if value:
            decode_secret(value)
        return value or None

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        return _currency_code(value)

    @field_validator("currency_rates", mode="before")
    @classmethod
    def _currency_rates(cls, value: object) -> object:
        return _rates(value)

    @field_validator("currency_rates")
    @classmethod
    def _reporting_rate(cls, value: dict[str, Decimal], info: ValidationInfo) -> dict[str, Decimal]:
        reporting = info.data.get("currency")
        if reporting in value and value[reporting] != 1:
            raise ValueError(f"rates are in {reporting} (GRAPHAPI_CURRENCY), so {reporting} must be 1")
        return value

    @field_validator("trusted_proxies", "postback_allowed_ips", mode="before")
    @classmethod
    def _network_list(cls, value: object) -> object:
        return _networks(value)

    @property
    def trusted_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(ipaddress.ip_network(n, strict=False) for n in self.trusted_proxies)

    @property
    def postback_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(ipaddress.ip_network(n, strict=False) for n in self.postback_allowed_ips)


class SettingsError(Exception):
    """A setting has a bad value; the message names the environment variable."""


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            name = ENV_PREFIX + "_".join(str(p) for p in error["loc"][:1]).upper()
            lines.append(f"{name}: {error['msg']}")
        raise SettingsError("invalid settings:\n  " + "\n  ".join(lines)) from None

