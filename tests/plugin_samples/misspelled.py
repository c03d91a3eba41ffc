from graphapi import hookimpl


@hookimpl
def conversion_recordd(event):
    raise AssertionError("never called")
