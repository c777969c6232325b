"""The ``json`` report, defined by pydantic models; :func:`json_schema` is its JSON Schema.

Imported only on the JSON path: pydantic costs more start-up time than a whole ``check``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from envsync_hook.findings import NOTICE_BREAK, PairResult
from envsync_hook.reporters.summary import count

if TYPE_CHECKING:
    from envsync_hook.reporters import ReportOptions

TOOL_NAME = "envsync-hook"
SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

# Spelled out (not built from findings.SEVERITIES / ANALYSIS_KINDS) so that mypy and the schema
# see them; a test keeps them equal to the tuples in findings.
Severity = Literal["error", "warning", "info"]
FailOn = Literal["error", "warning", "info", "never"]
Analysis = Literal[
    "empty-to-value",
    "value-to-empty",
    "numeric-increase",
    "numeric-decrease",
    "boolean-toggle",
    "url-change",
    "path-change",
    "text-change",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Tool(_Model):
    name: str
    version: str


class SeverityCounts(_Model):
    error: int = Field(ge=0)
    warning: int = Field(ge=0)
    info: int = Field(ge=0)


class Summary(_Model):
    by_severity: SeverityCounts
    by_code: dict[str, int] = Field(description="Findings per code; every rule code is present.")
    total: int = Field(ge=0)
    failed: bool = Field(description="Some finding is at or above fail_on.")
    pairs: int = Field(ge=0)
    skipped: int = Field(ge=0, description="Pairs skipped because their env file is missing.")
    changed: int = Field(ge=0, description="Pairs whose env file fix rewrote (or would).")


class FindingModel(_Model):
    code: str = Field(pattern=r"^ENV[0-9]{3}$")
    slug: str
    severity: Severity
    key: str = Field(description="The key concerned; empty for findings about a whole file.")
    file: str
    line: int = Field(ge=0, description="1-based; 0 when the finding has no line.")
    message: str
    analysis: Optional[Analysis] = None  # noqa: UP045 - pydantic evaluates this on 3.9


BaseSource = Literal["option", "record", "hook", "git-history", "none"]


class BaseInfo(_Model):
    """Which base (previous template) the pair was compared with, and where it came from."""

    source: BaseSource = Field(
        description="option: --base/--base-ref or the configuration; record: the sync record "
        "of the last fix; hook: the commit before a checkout/merge; git-history: the committed "
        "version the env file matches best; none: two-way."
    )
    detail: str = Field(description="Which file or commit, how many keys matched; may be empty.")


class Pair(_Model):
    template: str
    env: str
    skipped: bool
    changed: bool
    notice: str
    base: BaseInfo
    findings: list[FindingModel]


class Report(_Model):
    """The ``json`` report of ``envsync check`` or ``envsync fix``."""

    model_config = ConfigDict(title="envsync-hook report")

    tool: Tool
    command: str
    fail_on: FailOn
    summary: Summary
    pairs: list[Pair]


def build(results: Sequence[PairResult], options: ReportOptions) -> Report:
    counts = count(results, options.fail_on)
    return Report(
        tool=Tool(name=TOOL_NAME, version=options.version),
        command=options.command,
        fail_on=options.fail_on,  # type: ignore[arg-type]  # validated by pydantic
        summary=Summary(
            by_severity=SeverityCounts(**counts.by_severity),
            by_code=counts.by_code,
            total=counts.total,
            failed=counts.failed,
            pairs=counts.pairs,
            skipped=counts.skipped,
            changed=counts.changed,
        ),
        pairs=[
            Pair(
                template=p.template,
                env=p.env,
                skipped=p.skipped,
                changed=p.changed,
                notice=p.notice.replace(NOTICE_BREAK, "\n"),
                base=BaseInfo(source=p.base_source, detail=p.base_detail),  # type: ignore[arg-type]
                findings=[FindingModel.model_validate(f._asdict()) for f in p.findings],
            )
            for p in results
        ],
    )


def render(results: Sequence[PairResult], options: ReportOptions) -> str:
    return build(results, options).model_dump_json(indent=2) + "\n"


def json_schema() -> str:
    """The JSON Schema (draft 2020-12) of the report, as indented JSON."""
    schema = {"$schema": SCHEMA_DIALECT, **Report.model_json_schema()}
    return json.dumps(schema, indent=2) + "\n"
