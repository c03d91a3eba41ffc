"""For tests with real server processes: a rule plugin whose periodic check
appends "pid campaign_id time" to the file named by GRAPHAPI_TEST_RECORD."""

import os
import time

from graphapi import hookimpl
from graphapi.events import RulePluginInfo


@hookimpl
def rule_plugin_info():
    return RulePluginInfo(description="records its checks in a file")


@hookimpl
def campaign_checked(event):
    with open(os.environ["GRAPHAPI_TEST_RECORD"], "a") as record:
        record.write(f"{os.getpid()} {event.campaign.id} {time.time()}\n")
