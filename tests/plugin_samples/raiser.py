from graphapi import hookimpl


@hookimpl
def conversion_recorded(event):
    raise RuntimeError("plugin bug")
