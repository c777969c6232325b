"""``envsync rules`` and ``envsync explain CODE``: the rule table, and one rule with an example.

Imported only by those two commands.
"""

from __future__ import annotations

from envsync_hook.errors import EnvsyncError
from envsync_hook.findings import RULES, RULES_BY_CODE, RULES_BY_SLUG
from envsync_hook.lean import NamedTuple


class Explanation(NamedTuple):
    """What a rule means for the operator, a small example, and what to do about it."""

    why: str
    template: str  # the template (.env.example) of the example
    env: str  # the operator's .env of the example
    finding: str  # the line ``envsync check -v`` prints for it
    todo: str
    base: str = ""  # the previous template, for the three-way rules


EXPLANATIONS: dict[str, Explanation] = {
    "ENV001": Explanation(
        "The new template assigns a key your .env does not: the application may start with "
        "its built-in default or fail, and Docker Compose leaves ${KEY} references empty.",
        "DB_HOST=db\nDB_PORT=5432\n",
        "DB_HOST=db\n",
        ".env.example:2: ENV001 missing-key DB_PORT: missing from the env file; fix adds it "
        "with the template default",
        "`envsync fix` adds it with the template default, at the template's place.",
    ),
    "ENV002": Explanation(
        "Your .env assigns a key that no template of the set defines, not even as a "
        "commented-out `# KEY=`: it was removed upstream, renamed, or is your own.",
        "DB_HOST=db\n",
        "DB_HOST=db\nLEGACY_FLAG=1\n",
        ".env:2: ENV002 extra-key LEGACY_FLAG: not defined by any template of the set; fix "
        "keeps it at the end of the file",
        "Nothing is lost: fix keeps it in a block at the end of the file. `--prune` drops it "
        "(the backup keeps it); with a base, an untouched old default is dropped by itself.",
    ),
    "ENV003": Explanation(
        "Your value differs from the template default. With a base (the previous template) "
        "whose default is the same, this is your deliberate choice; without one it may also "
        "be an old default.",
        "WORKERS=4\n",
        "WORKERS=8\n",
        ".env.example:1: ENV003 changed-default WORKERS: differs from the template default "
        "(template default is lower than yours); fix keeps the operator's value",
        "Nothing, if you meant it. `--show-values` shows both values side by side; "
        "`--base OLD.env.example` tells your choices from stale defaults.",
    ),
    "ENV004": Explanation(
        "Your .env still holds the previous template's default, and the new template changed "
        "that default: you never chose the old value, you inherited it.",
        "WORKERS=4\n",
        "WORKERS=1\n",
        ".env.example:1: ENV004 stale-default WORKERS: holds the previous template's default, "
        "which the template changed (template default is higher than yours); fix takes the "
        "new default",
        "`envsync fix` takes the new default (`--keep-stale` keeps the old one). A key that "
        "looks secret keeps its value (a password in use cannot change on its own): set a "
        "fresh one (`--generate-secrets KEY`) or take the default (`--take-template KEY`).",
        base="WORKERS=1\n",
    ),
    "ENV005": Explanation(
        "You customised the value, and upstream changed its default as well: only you can "
        "tell whether your value still fits.",
        "API_URL=https://api.example.com/v2\n",
        "API_URL=https://internal:5001\n",
        ".env.example:1: ENV005 conflict API_URL: customised, and the template default changed "
        "as well (template default is a different URL); fix keeps the operator's value; "
        "review the new default",
        "Fix keeps your value. Review with `--show-values`; take the new default with "
        "`envsync fix --take-template API_URL`.",
        base="API_URL=https://api.example.com\n",
    ),
    "ENV006": Explanation(
        "Your .env assigns a key more than once; Docker Compose uses the last assignment, "
        "so an edit to the first one silently does nothing.",
        "DEBUG=false\n",
        "DEBUG=true\nDEBUG=false\n",
        ".env:2: ENV006 duplicate-key DEBUG: assigned 2 times (lines 1, 2); Compose uses "
        "the last; fix keeps only it",
        "Delete the assignment you do not mean; `envsync fix` writes the key once, with the "
        "value Compose uses.",
    ),
    "ENV007": Explanation(
        "A line Docker Compose would reject, in either file: `docker compose up` fails on it. "
        "An unclosed quote makes Compose read on into the next lines; the finding names the "
        "line where the quote opened.",
        "NAME=app\n",
        'NAME="app\n',
        '.env:1: ENV007 syntax-error: Docker Compose rejects this file: the " opened on this '
        "line is never closed",
        "Edit the line; fix refuses to write while Compose cannot read both files.",
    ),
    "ENV008": Explanation(
        "The key is not in the primary template but in another template of the set "
        "(`--also`), e.g. after a project split its .env.example into per-service files.",
        "# (api.env.example: DB_HOST=db)\nLOG_LEVEL=INFO\n",
        "LOG_LEVEL=INFO\nDB_HOST=db\n",
        "api.env.example:1: ENV008 relocated-key DB_HOST: now defined in api.env.example; the "
        "env file's value still applies and fix keeps it",
        "Nothing urgent: your value still applies. Move it when you adopt the new layout.",
    ),
    "ENV009": Explanation(
        "A hint: a key that left the template looks renamed to one that arrived (the same "
        "value, or the same name but one word). Fix never moves values between keys.",
        "VECTOR_STORE=weaviate\n",
        "VECTOR_DB=weaviate\n",
        ".env.example:1: ENV009 renamed-key VECTOR_DB: looks renamed to VECTOR_STORE (same "
        "value); fix does not move values between keys",
        "If it is a rename, copy your value to the new key, then drop the old one.",
    ),
    "ENV010": Explanation(
        "The template gained a commented-out assignment (an opt-in) since the previous "
        "template, and your .env does not set it. Without a base the report only counts "
        "the template's opt-ins your .env does not set.",
        "LOG_LEVEL=INFO\n# SENTRY_DSN=\n",
        "LOG_LEVEL=INFO\n",
        ".env.example:2: ENV010 new-optional-key SENTRY_DSN: the template offers this "
        "optional setting (commented out); the env file does not set it",
        "Read the comment above it in the template; set it in .env if you want it.",
        base="LOG_LEVEL=INFO\n",
    ),
    "ENV011": Explanation(
        "The .env (or a backup of it) is readable or writable by group or others: it holds "
        "passwords and keys.",
        "SECRET_KEY=\n",
        "SECRET_KEY=... (mode 0644)\n",
        ".env:1: ENV011 unsafe-permissions: mode 0644: readable or writable by group or "
        "others; run chmod 600 .env",
        "`chmod 600 .env` (and the backups in env-backup/).",
    ),
    "ENV012": Explanation(
        "The pair's .env does not exist: a fresh clone, or a wrong path.",
        "DB_HOST=db\n",
        "(no .env)\n",
        ".env.example:1: ENV012 missing-env-file: env file .env does not exist; fix creates "
        "it from the template",
        "`envsync fix` creates it from the template (mode 0600); `--if-missing skip` skips "
        "the pair instead (CI, a hook on a fresh clone).",
    ),
    "ENV013": Explanation(
        "A secret-looking key still holds a non-empty default that the template (or its "
        "history) publishes: everyone who read the template knows your secret.",
        "SECRET_KEY=sk-9f86d081884c7d659a2f\n",
        "SECRET_KEY=sk-9f86d081884c7d659a2f\n",
        ".env.example:1: ENV013 default-secret SECRET_KEY: holds the template's published default",
        "Generate a new secret (e.g. `openssl rand -base64 42`) and put it in .env.",
    ),
}


def find_rule(name: str) -> str:
    """The code of the rule named by code (any case) or slug; EnvsyncError otherwise."""
    code = name.strip().upper()
    if code in RULES_BY_CODE:
        return code
    rule = RULES_BY_SLUG.get(name.strip().lower())
    if rule is not None:
        return rule.code
    import difflib  # (only on this error path)

    names = [r.code for r in RULES] + [r.slug for r in RULES]
    near = difflib.get_close_matches(name, names, n=1)
    hint = f"; did you mean {near[0]}?" if near else "; `envsync rules` lists them"
    raise EnvsyncError(f"no rule {name!r}{hint}")


def rules_table() -> str:
    """``envsync rules``: one line a rule: code, slug, default severity, summary."""
    width = max(len(r.slug) for r in RULES)
    lines = [f"{r.code}  {r.slug:<{width}}  {r.severity:<7}  {r.summary}" for r in RULES]
    lines.append("")
    lines.append("`envsync explain CODE` explains one with an example.")
    return "\n".join(lines) + "\n"


def _indented(label: str, text: str) -> list[str]:
    rows = text.splitlines() or [""]
    return [f"  {label:<19}{rows[0]}"] + [f"  {'':<19}{row}" for row in rows[1:]]


def explain(name: str) -> str:
    """``envsync explain CODE``: the rule, why it matters, an example and what to do."""
    import textwrap

    code = find_rule(name)
    rule = RULES_BY_CODE[code]
    ex = EXPLANATIONS[code]

    def fill(text: str, indent: str = "") -> list[str]:
        hang = indent + "  " if indent else ""  # (a finding line hangs; prose does not)
        return textwrap.wrap(text, 88, initial_indent=indent, subsequent_indent=hang)

    lines = [f"{rule.code} {rule.slug} (default severity: {rule.severity})", ""]
    lines += fill(rule.summary) + [""] + fill(ex.why) + ["", "Example:"]
    if ex.base:
        lines += _indented("previous template:", ex.base)
    lines += _indented(".env.example:", ex.template)
    lines += _indented(".env:", ex.env)
    lines += ["", "envsync check -v prints:", *fill(ex.finding, "  "), ""]
    lines += fill(f"What to do: {ex.todo}")
    lines += [
        "",
        f"Change its severity with --severity {rule.slug}=LEVEL (error, warning, info, off).",
    ]
    return "\n".join(lines) + "\n"
