"""The built-in rule plugins, one module each, loaded by default
(`graphapi.plugins.DEFAULT_PLUGINS`). Campaigns attach them with `addRule`."""
