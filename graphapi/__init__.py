"""graphapi: a self-hosted conversion tracker."""

from graphapi.hookspecs import hookimpl

__all__ = ["hookimpl"]
__version__ = "0.1.0"
