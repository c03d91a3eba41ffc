from graphapi import hookimpl


@hookimpl
def rule_plugin_info():
    return {"description": "a dict, not a RulePluginInfo"}
