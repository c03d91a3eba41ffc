"""Who clicked: client IP behind trusted proxies, country, device, OS, browser, bot."""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass

import iptocc
import re2
import ua_parser
from ua_parser.regex import Resolver as RustResolver
from crawlerdetect.providers.crawlers import data as crawler_patterns
from crawlerdetect.providers.exclusions import data as exclusion_patterns
from user_agents.parsers import UserAgent, parse_browser, parse_device, parse_operating_system

from graphapi.models import DeviceType

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[::1]:443"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "1.2.3.4:443"
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


class ClientAddress:
    """The visitor's address: the TCP peer, or for a trusted proxy the last
    untrusted hop of X-Forwarded-For (hops further left are the client's to forge).
    """

    def __init__(self, trusted: Sequence[Network]) -> None:
        self._trusted = tuple(trusted)
        # Peers and forwarded chains repeat: parse each once (bounded caches).
        self._peers: dict[str, tuple[str | None, bool]] = {}
        self._forwarded: dict[tuple[str, str], str] = {}

    def __call__(self, peer: str | None, forwarded_for: str | None) -> str | None:
        if not peer:
            return None
        known = self._peers.get(peer)
        if known is None:
            if len(self._peers) >= 10_000:
                self._peers.clear()
            address = _parse_ip(peer)
            known = self._peers[peer] = (
                (str(address), self._is_trusted(address)) if address else (None, False)
            )
        address_text, trusted = known
        if not trusted or not forwarded_for:
            return address_text
        key = (address_text, forwarded_for)
        resolved = self._forwarded.get(key)
        if resolved is None:
            if len(self._forwarded) >= 100_000:
                self._forwarded.clear()
            resolved = self._forwarded[key] = self._last_untrusted(forwarded_for, address_text)
        return resolved

    def _last_untrusted(self, forwarded_for: str, address_text: str) -> str:
        for hop in reversed(forwarded_for.split(",")):
            hop_address = _parse_ip(hop)
            if hop_address is None:
                break
            address_text = str(hop_address)
            if not self._is_trusted(hop_address):
                break
        return address_text

    def _is_trusted(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return any(address in network for network in self._trusted)


def country(ip: str | None) -> str | None:
    # iptocc answers from a table inside the wheel in well under a microsecond.
    return iptocc.country_code(ip) if ip else None


@dataclass(frozen=True, slots=True)
class Device:
    device_type: DeviceType
    os: str | None
    browser: str | None
    is_bot: bool


# ua-parser's Rust resolver (ua-parser[regex]) itself, without the cache that
# ua_parser.parse keeps in front of it: describe() caches whole answers.
_parser = ua_parser.Parser(RustResolver(ua_parser.load_builtins()))


class _Parsed(UserAgent):
    """user_agents' rules for device types, over ua-parser's Rust resolver.

    user_agents' own constructor parses with ua-parser's legacy API, a list of
    Python regexes tried one by one (about 1 ms a user agent here); the Rust
    resolver gives the same answers in about 60 µs.
    """

    def __init__(self, user_agent: str) -> None:
        result = _parser.parse(user_agent)
        browser = result.user_agent or ua_parser.UserAgent()
        os = result.os or ua_parser.OS()
        device = result.device or ua_parser.Device()
        self.ua_string = user_agent
        self.browser = parse_browser(browser.family, browser.major, browser.minor, browser.patch)
        self.os = parse_operating_system(os.family, os.major, os.minor, os.patch, os.patch_minor)
        self.device = parse_device(device.family, device.brand, device.model)


# Constructs RE2 lacks: patterns holding one stay with Python's engine.
_LOOK_AROUNDS = ("(?=", "(?!", "(?<=", "(?<!")


class _Crawlers:
    """crawlerdetect's patterns, matched as crawlerdetect does, by RE2.

    crawlerdetect runs its 1,400 patterns as one Python regex (about 1 ms a
    user agent); RE2 matches them in linear time (about 0.15 ms).
    """

    def __init__(self) -> None:
        options = re2.Options()
        options.case_sensitive = False
        python = [p for p in crawler_patterns if any(look in p for look in _LOOK_AROUNDS)]
        self._exclusions = re2.compile("|".join(exclusion_patterns), options)
        self._crawlers = re2.compile("|".join(p for p in crawler_patterns if p not in python), options)
        self._look_arounds = re.compile("|".join(python) or "(?!)", re.I)

    def __call__(self, user_agent: str) -> bool:
        agent = self._exclusions.sub("", user_agent.strip())
        return bool(agent) and bool(self._crawlers.search(agent) or self._look_arounds.search(agent))


_is_crawler = _Crawlers()


@functools.lru_cache(maxsize=20_000)
def describe(user_agent: str) -> Device:
    """Device, OS and browser of a user agent; bots are crawler UAs and empty ones.

    A new user agent costs about 0.2 ms to parse; results are cached (bounded:
    real traffic repeats a few thousand user agents).
    """
    if not user_agent.strip():
        return Device(DeviceType.BOT, None, None, True)
    parsed = _Parsed(user_agent)
    is_bot = parsed.is_bot or _is_crawler(user_agent)
    if is_bot:
        device_type = DeviceType.BOT
    elif parsed.is_tablet:
        device_type = DeviceType.TABLET
    elif parsed.is_mobile:
        device_type = DeviceType.MOBILE
    elif parsed.is_pc:
        device_type = DeviceType.DESKTOP
    else:
        device_type = DeviceType.OTHER
    return Device(
        device_type,
        _known(parsed.os.family),
        _known(parsed.browser.family),
        is_bot,
    )


def _known(family: str | None) -> str | None:
    return None if not family or family == "Other" else family[:64]


def visitor_key(ip: str | None, user_agent: str) -> int:
    """What makes two clicks "the same visitor" for uniqueness: IP and user agent,
    hashed to 64 bits (a small index; collisions within one campaign are
    vanishingly rare)."""
    digest = hashlib.blake2b(f"{ip}\n{user_agent}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)
