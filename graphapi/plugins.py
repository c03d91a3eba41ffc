"""Loading plugins and calling their hooks: one `Plugins` per app (`services.plugins`).

Plugins come from three places, in this order: the built-in rules (the
top-level `plugins` package, `DEFAULT_PLUGINS`), the `graphapi` entry-point group
of installed packages, and the modules named in `GRAPHAPI_PLUGINS`. Names in
`GRAPHAPI_DISABLE_PLUGINS` are not loaded. A plugin that fails to import, has a
hook graphapi does not know (a misspelling) or a bad config schema is reported
(log, `graphapi plugins`, `Plugins.errors`) and left out; it never stops the
server, because tracking must go on whatever a plugin does.

pluggy's own hook calls stop at the first implementation that raises; graphapi
calls each implementation itself instead (`call`), with a timeout.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import importlib.metadata
import inspect
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jsonschema
import pluggy

import graphapi
from graphapi import hookspecs
from graphapi.events import ReceivedConversion, RulePluginInfo
from graphapi.models import ConversionStatus
from graphapi.settings import Settings

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "graphapi"
DEFAULT_PLUGINS = (
    "plugins.roi_guard",
    "plugins.budget_cap",
    "plugins.conversion_cap",
    "plugins.scale_budget",
    "plugins.auto_lists",
    "plugins.source_postback",
    "plugins.webhook",
)
# `conversion_received` runs on the postback path: it gets little time.
RECEIVED_TIMEOUT_SECONDS = 1.0


@dataclass(frozen=True)
class LoadedPlugin:
    name: str
    origin: str  # "builtin", "entry point (dist version)" or "GRAPHAPI_PLUGINS"
    version: str | None
    hooks: tuple[str, ...]


@dataclass(frozen=True)
class PluginError:
    name: str
    origin: str
    error: str


class Plugins:
    def __init__(self, settings: Settings) -> None:
        self.pm = pluggy.PluginManager("graphapi")
        self.pm.add_hookspecs(hookspecs)
        self.timeout = settings.rule_timeout_seconds
        self.errors: list[PluginError] = []
        self._origins: dict[str, tuple[str, str | None]] = {}
        self._infos: dict[str, RulePluginInfo] = {}
        for name in settings.disable_plugins:
            self.pm.set_blocked(name)
        for module in DEFAULT_PLUGINS:
            self._load(
                module.rsplit(".", 1)[-1],
                "builtin",
                graphapi.__version__,
                functools.partial(importlib.import_module, module),
            )
        for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            dist = entry_point.dist
            origin = f"entry point ({dist.name} {dist.version})" if dist else "entry point"
            self._load(entry_point.name, origin, dist.version if dist else None, entry_point.load)
        for module in settings.plugins:
            self._load(module, "GRAPHAPI_PLUGINS", None, functools.partial(importlib.import_module, module))
        self._check_pending()
        self._collect_infos()

    # -- loading ---------------------------------------------------------------

    def _load(self, name: str, origin: str, version: str | None, load: Callable[[], object]) -> None:
        if self.pm.is_blocked(name):
            return
        if self.pm.has_plugin(name):
            self._fail(name, origin, f"a plugin named {name!r} is already loaded ({self._origins[name][0]})")
            return
        try:
            plugin = load()
            if self.pm.is_registered(plugin):  # a built-in module named in GRAPHAPI_PLUGINS, say
                self._fail(name, origin, f"already loaded as {self.pm.get_name(plugin)!r}")
                return
            self.pm.register(plugin, name=name)
        except Exception as exc:  # noqa: BLE001 - any failure of a plugin is reported
            self._fail(name, origin, f"cannot load: {type(exc).__name__}: {exc}")
            return
        self._origins[name] = (origin, version or getattr(plugin, "__version__", None))

    def _fail(self, name: str, origin: str, error: str) -> None:
        log.error("plugin %s (%s) left out: %s", name, origin, error)
        self.errors.append(PluginError(name, origin, error))

    def _unregister(self, name: str, error: str) -> None:
        self.pm.unregister(name=name)
        origin, _ = self._origins.pop(name)
        self._fail(name, origin, error)

    def _check_pending(self) -> None:
        """`check_pending` names one plugin with an unknown hook at a time."""
        while True:
            try:
                self.pm.check_pending()
                return
            except pluggy.PluginValidationError as exc:
                self._unregister(self.pm.get_name(exc.plugin), str(exc))

    def _collect_infos(self) -> None:
        for impl in self.pm.hook.rule_plugin_info.get_hookimpls():
            try:
                info = impl.function()
                if not isinstance(info, RulePluginInfo):
                    raise TypeError(f"returned {info!r}, not a RulePluginInfo")
                if info.config_schema is not None:
                    jsonschema.validators.validator_for(info.config_schema).check_schema(info.config_schema)
            except Exception as exc:  # noqa: BLE001
                self._unregister(impl.plugin_name, f"rule_plugin_info: {type(exc).__name__}: {exc}")
            else:
                self._infos[impl.plugin_name] = info

    # -- what is loaded --------------------------------------------------------

    def loaded(self) -> list[LoadedPlugin]:
        result = []
        for name, plugin in self.pm.list_name_plugin():
            if plugin is None:  # blocked: GRAPHAPI_DISABLE_PLUGINS
                continue
            origin, version = self._origins[name]
            hooks = tuple(sorted(caller.name for caller in self.pm.get_hookcallers(plugin) or ()))
            result.append(LoadedPlugin(name, origin, version, hooks))
        return result

    def rule_plugins(self) -> dict[str, RulePluginInfo]:
        """The plugins campaigns can attach (GraphQL `rulePlugins`), by name."""
        return dict(sorted(self._infos.items()))

    def validate_rule_config(self, plugin: str, config: Any) -> list[tuple[list[str], str]]:
        """For `addRule` / `updateRule`: what is wrong, as (path, message) pairs;
        paths start at "plugin" or "config"."""
        info = self._infos.get(plugin)
        if info is None:
            names = ", ".join(self._infos) or "none"
            return [(["plugin"], f"no rule plugin named {plugin!r} is loaded (loaded: {names})")]
        return config_errors(info, config)

    def implementations(self, hook: str) -> list[pluggy.HookImpl]:
        """A hook's implementations in pluggy's call order."""
        return list(reversed(getattr(self.pm.hook, hook).get_hookimpls()))

    # -- calling ---------------------------------------------------------------

    async def call(self, impl: pluggy.HookImpl, timeout: float | None = None, **kwargs: Any) -> Any:
        """One implementation, sync or async, within `timeout` seconds.

        Sync implementations run in a daemon thread, so a slow or hung one holds
        neither the event loop (and the requests it serves) nor the process's exit.
        """
        arguments = {name: kwargs[name] for name in impl.argnames}
        async with asyncio.timeout(self.timeout if timeout is None else timeout):
            if inspect.iscoroutinefunction(impl.function):
                return await impl.function(**arguments)
            result = await in_daemon_thread(functools.partial(impl.function, **arguments))
            return await result if inspect.isawaitable(result) else result

    async def review_conversion(self, event: ReceivedConversion) -> ConversionStatus | None:
        """For the postback path: the status `conversion_received` plugins decide
        for a conversion about to be recorded, or None (record it as sent)."""
        for impl in self.implementations("conversion_received"):
            try:
                verdict = await self.call(impl, RECEIVED_TIMEOUT_SECONDS, event=event)
                if verdict is None:
                    continue
                return ConversionStatus(verdict)
            except Exception as exc:  # noqa: BLE001 - a broken plugin never loses a conversion
                log.error(
                    "conversion_received of %s ignored: %s",
                    impl.plugin_name,
                    describe_failure(exc, RECEIVED_TIMEOUT_SECONDS),
                )
        return None


def config_errors(info: RulePluginInfo, config: Any) -> list[tuple[list[str], str]]:
    """A rule config checked against a plugin's JSON Schema, as (path, message) pairs."""
    if info.config_schema is None:
        return [] if not config else [(["config"], "this plugin takes no config")]
    validator_class = jsonschema.validators.validator_for(info.config_schema)
    validator = validator_class(info.config_schema, format_checker=validator_class.FORMAT_CHECKER)
    errors = validator.iter_errors({} if config is None else config)
    found = [(["config", *map(str, error.absolute_path)], error.message) for error in errors]
    return sorted(found)


def describe_failure(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"timed out after {timeout:g} s"
    return f"raised {type(exc).__name__}: {exc}"


def in_daemon_thread(function: Callable[[], Any]) -> asyncio.Future:
    loop = asyncio.get_running_loop()
    future = loop.create_future()

    def settle(result: Any, error: BaseException | None) -> None:
        if future.done():  # given up on (timeout)
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    def run() -> None:
        try:
            outcome = (function(), None)
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task
            outcome = (None, exc)
        try:
            loop.call_soon_threadsafe(settle, *outcome)
        except RuntimeError:
            pass  # the loop has closed: nobody waits for this any more

    threading.Thread(target=run, name="graphapi-plugin", daemon=True).start()
    return future
