"""For tests with real server processes: appends "pid conversion_id" to the file
named by GRAPHAPI_TEST_RECORD; hangs first when GRAPHAPI_TEST_HANG is set."""

import os
import time

from graphapi import hookimpl


@hookimpl
def conversion_recorded(event):
    with open(os.environ["GRAPHAPI_TEST_RECORD"], "a") as record:
        record.write(f"{os.getpid()} {event.conversion.id}\n")
    if os.environ.get("GRAPHAPI_TEST_HANG"):
        time.sleep(600)
