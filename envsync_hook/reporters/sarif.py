"""The ``sarif`` report: SARIF 2.1.0, one run, one rule per code of ``findings.RULES``.

Rule ids are the codes (stable across releases), rule names the slugs. Locations are relative
URIs against ``%SRCROOT%``, the repository root (the CLI gives the paths from there, see
locate.py), which ``originalUriBaseIds`` names as a ``file:`` URI. Built with stdlib ``json``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import PurePath
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from envsync_hook.findings import RULES, Finding, PairResult, Rule
from envsync_hook.reporters.summary import skip_notice

if TYPE_CHECKING:
    from envsync_hook.reporters import ReportOptions

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
TOOL_NAME = "envsync-hook"
INFORMATION_URI = "https://pypi.org/project/envsync-hook/"
SRCROOT = "%SRCROOT%"

#: finding severity -> SARIF level
LEVELS = {"error": "error", "warning": "warning", "info": "note"}
RULE_INDEX = {rule.code: i for i, rule in enumerate(RULES)}


def _rule(rule: Rule) -> dict[str, Any]:
    title = rule.slug.replace("-", " ").capitalize()
    return {
        "id": rule.code,
        "name": rule.slug,
        "shortDescription": {"text": title},
        "fullDescription": {"text": rule.summary},
        "help": {"text": f"{rule.code} {rule.slug}: {rule.summary}"},
        "defaultConfiguration": {"level": LEVELS[rule.severity]},
    }


def artifact_location(file: str) -> dict[str, str]:
    """A relative path as given -> a relative URI against ``%SRCROOT%``; absolute -> ``file:``."""
    path = PurePath(file)
    if path.is_absolute():
        return {"uri": path.as_uri()}
    return {"uri": quote(path.as_posix()), "uriBaseId": SRCROOT}


def _result(f: Finding) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": artifact_location(f.file)}
    if f.line > 0:
        physical["region"] = {"startLine": f.line}
    result: dict[str, Any] = {"ruleId": f.code}
    if f.code in RULE_INDEX:
        result["ruleIndex"] = RULE_INDEX[f.code]
    result["level"] = LEVELS.get(f.severity, "warning")
    result["message"] = {"text": f"{f.key}: {f.message}" if f.key else f.message}
    result["locations"] = [{"physicalLocation": physical}]
    return result


def build(results: Sequence[PairResult], options: ReportOptions) -> dict[str, Any]:
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": TOOL_NAME,
                "version": options.version,
                "informationUri": INFORMATION_URI,
                "rules": [_rule(rule) for rule in RULES],
            }
        },
    }
    if options.root:
        # a directory's URI ends in "/" (SARIF 3.14.14), so that relative URIs resolve in it
        uri = PurePath(options.root).as_uri().rstrip("/") + "/"
        run["originalUriBaseIds"] = {SRCROOT: {"uri": uri}}
    notices = [{"level": "note", "message": {"text": skip_notice(p)}} for p in results if p.skipped]
    invocation: dict[str, Any] = {"executionSuccessful": True}
    if notices:
        invocation["toolExecutionNotifications"] = notices
    run["invocations"] = [invocation]
    run["results"] = [_result(f) for p in results for f in p.findings]
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}


def render(results: Sequence[PairResult], options: ReportOptions) -> str:
    return json.dumps(build(results, options), indent=2, ensure_ascii=False) + "\n"
