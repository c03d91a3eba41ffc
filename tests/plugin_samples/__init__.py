"""Plugins for the tests, loaded through GRAPHAPI_PLUGINS (their names are these module paths)."""
