"""graphapi: a self-hosted conversion tracker."""

__version__ = "0.1.0"
