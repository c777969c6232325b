"""The ``text`` report, for a person at a terminal.

By default a screenful per run: per pair a header line (template, env file, template set, base),
errors and warnings grouped by code with a count (one line a finding, or, for a long group that
shares one message, the keys packed several to a line), info as one count line per code, then
``next:`` with at most three commands that would resolve what was found, and the summary line.
``-v`` lists every finding, one a line:
``docker/.env.example:12: ENV001 missing-key DB_HOST: message``; ``-q`` errors and the summary.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from envsync_hook.escaping import escape, plausible_key
from envsync_hook.findings import (
    ANALYSIS_TEXT,
    RULES_BY_CODE,
    SECRET_TIES,
    SEVERITY_RANK,
    Finding,
    FixActions,
    PairResult,
)
from envsync_hook.lean import TYPE_CHECKING
from envsync_hook.reporters.summary import (
    Counts,
    base_line,
    count,
    plural,
    skip_notice,
    summary_line,
    upgrade_line,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from envsync_hook.reporters import ReportOptions

_RESET = "\x1b[0m"
_BOLD = "\x1b[1m"
_DIM = "\x1b[2m"
_SEVERITY_COLOR = {"error": "\x1b[31m", "warning": "\x1b[33m", "info": "\x1b[36m"}
_GREEN = "\x1b[32m"


def one_line(s: str) -> str:
    """``s`` made safe for a terminal (:func:`envsync_hook.escaping.escape`): control
    characters escaped (``a\\nb`` for a line break), no workflow command."""
    return escape(s)


def location(file: str, line: int) -> str:
    """``file:line``, or ``file`` alone when the finding has no line (``line`` 0)."""
    return f"{file}:{line}" if line > 0 else file


def format_finding(f: Finding, color: bool = False) -> str:
    """``path:line: CODE slug KEY: message`` (no ``KEY`` part when the finding has no key).

    Control characters in the path, key and message are escaped (:func:`one_line`).
    """
    where = location(one_line(f.file), f.line)
    rule = f"{f.code} {f.slug}"
    if color:
        where = f"{_BOLD}{where}{_RESET}"
        rule = f"{_SEVERITY_COLOR.get(f.severity, '')}{rule}{_RESET}"
    head = f"{where}: {rule} {one_line(f.key)}" if f.key else f"{where}: {rule}"
    return f"{head}: {one_line(f.message)}"


def render(results: Sequence[PairResult], options: ReportOptions) -> str:
    """The text report at ``options.verbosity`` (see the module's docstring)."""
    if options.verbosity > 0:
        return render_list(results, options)
    lines: list[str] = []
    quiet = options.verbosity < 0
    for pair in results:
        if pair.skipped:
            if not quiet:
                lines.append(_dim(one_line(skip_notice(pair)), options.color))
            continue
        if not quiet:
            lines.append(pair_header(pair, options.color))
            if pair.fixed is not None:
                lines.extend(fix_account(pair.env, pair.fixed, pair.changed, options.width))
        lines.extend(grouped(pair.findings, options, quiet))
        if pair.offers and not quiet:
            lines.append(
                f"the template offers {plural(pair.offers, 'optional setting')} (commented out) "
                "that the env file does not set"
            )
    counts = count(results, options.fail_on)
    if not quiet:
        upgrade = upgrade_line(results, options.command)
        if upgrade and not any(p.fixed for p in results):  # (fix's account says it already)
            lines.append(upgrade)
        steps = next_steps(results, options, counts)
        if steps:
            lines.append("next:")
            lines.extend(f"  {step}" for step in steps)
    lines.append(_summary(counts, options))
    return "\n".join(lines) + "\n"


def render_list(results: Sequence[PairResult], options: ReportOptions) -> str:
    """``-v``: findings in the order given, one a line, skipped pairs' notices, a summary."""
    lines: list[str] = []
    for pair in results:
        if pair.skipped:
            lines.append(_dim(one_line(skip_notice(pair)), options.color))
            continue
        lines.append(pair_header(pair, options.color, listed=True))
        lines.extend(format_finding(f, options.color) for f in pair.findings)
    upgrade = upgrade_line(results, options.command)
    if upgrade:
        lines.append(upgrade)
    lines.append(_summary(count(results, options.fail_on), options))
    return "\n".join(lines) + "\n"


def _dim(s: str, color: bool) -> str:
    return f"{_DIM}{s}{_RESET}" if color else s


def _summary(counts: Counts, options: ReportOptions) -> str:
    """The last line: counts by severity, coloured by the worst."""
    summary = summary_line(counts, options.fail_on)
    if options.color:
        if counts.failed:
            tone = _SEVERITY_COLOR["error"]
        elif counts.total:
            tone = _SEVERITY_COLOR["warning"]
        else:
            tone = _GREEN
        summary = f"{_BOLD}{tone}{summary}{_RESET}"
    return summary


def pair_header(pair: PairResult, color: bool = False, listed: bool = False) -> str:
    """``TEMPLATE -> ENV (template set: 34 files): base from ...`` (or ``no base (two-way)``),
    and ``; in sync`` when nothing was found (not under ``-v``, ``listed``)."""
    text = f"{pair.template} -> {base_line(pair)}"
    if pair.set_size > 1:
        text = text.replace(" -> ", f" ({pair.set_size} templates) -> ", 1)
    if not pair.findings and pair.fixed is None and not listed:
        text += "; in sync"
    text = one_line(text)
    return f"{_BOLD}{text}{_RESET}" if color else text


def _names(prefix: str, keys: Sequence[str], width: int, limit: int = 12) -> list[str]:
    """``prefix`` and key names (``... and 12 more`` past ``limit``), wrapped at ``width``."""
    items = [one_line(k) for k in keys[:limit]]
    if len(keys) > limit:
        items[-1] += f" and {len(keys) - limit} more"
    return _packed(prefix, items, width)


def fix_account(env: str, fixed: FixActions, changed: bool, width: int = 100) -> list[str]:
    """What fix did to ``env`` (``would`` in a dry run): one line a kind of change.

    ``in sync: nothing changed`` when the merge is the file as it stands.
    """
    name = one_line(env)
    if not changed:
        return [f"{name}: in sync: nothing changed"]
    would = fixed.dry_run

    def did(past: str, conditional: str) -> str:
        return f"would {conditional}" if would else past

    fresh = (
        _names(
            f"  {did('gave', 'give')} {plural(len(fixed.generated), 'key')} a fresh random "
            "value (--generate-secrets): ",
            fixed.generated,
            width,
        )
        if fixed.generated
        else []
    )
    if fixed.created:
        verb = "would be created" if would else "created"
        return [f"{name}: {verb} from the template (mode 0600); review it", *fresh]

    head = f"{name}: would change (dry run, nothing written)" if would else f"{name}: updated"
    if fixed.backup:
        head += f" (backup: {one_line(fixed.backup)})"
    return [head, *_changed_lines(fixed, did, width), *fresh, *_kept_lines(fixed, did, width)]


def _changed_lines(fixed: FixActions, did: Callable[[str, str], str], width: int) -> list[str]:
    """The account's lines for values fix wrote: keys added, stale defaults updated, template
    defaults taken."""
    out: list[str] = []
    if fixed.added:
        out += _names(
            f"  {did('added', 'add')} {plural(len(fixed.added), 'missing key')} "
            "with the template default: ",
            fixed.added,
            width,
        )
    if fixed.updated:
        out += _names(
            f"  {did('updated', 'update')} {plural(len(fixed.updated), 'stale default')} "
            "to the new default: ",
            fixed.updated,
            width,
        )
    if fixed.taken:
        out += _names(
            f"  {did('took', 'take')} the template default for "
            f"{plural(len(fixed.taken), 'key')} (--take-template): ",
            fixed.taken,
            width,
        )
    return out


def _kept_lines(fixed: FixActions, did: Callable[[str, str], str], width: int) -> list[str]:
    """The account's lines for the operator's values: kept, kept at the end, dropped (the
    backup keeps them), earlier duplicates dropped, and conflicts to review."""
    out: list[str] = []
    if fixed.kept:
        out.append(
            f"  {did('kept', 'keep')} {plural(fixed.kept, 'value')} that "
            f"{'differs' if fixed.kept == 1 else 'differ'} from the template default"
        )
    if fixed.trailing:
        moved = f"; {fixed.relocated} moved to another template" if fixed.relocated else ""
        out.append(
            f"  {did('kept', 'keep')} {plural(len(fixed.trailing), 'key')} at the end of the file "
            f"(no template line assigns {'it' if len(fixed.trailing) == 1 else 'them'}{moved})"
        )
    if fixed.dropped:
        out += _names(
            f"  {did('dropped', 'drop')} {plural(len(fixed.dropped), 'key')} "
            f"(the backup keeps {'it' if len(fixed.dropped) == 1 else 'them'}): ",
            fixed.dropped,
            width,
        )
    if fixed.duplicates:
        named = [k for k in fixed.duplicates if plausible_key(k)]
        unnamed = len(fixed.duplicates) - len(named)
        extra = f" and {plural(unnamed, 'key')} shown by line in ENV006" if unnamed else ""
        out += _names(
            f"  {did('dropped', 'drop')} earlier assignments of "
            f"{plural(len(fixed.duplicates), 'key')} set more than once (the backup keeps "
            f"them){extra}: ",
            named,
            width,
        )
    if fixed.conflicts:
        out += _names(
            f"  review {plural(len(fixed.conflicts), 'key')} (your value "
            f"{did('kept', 'stay')}, the template default changed): ",
            fixed.conflicts,
            width,
            len(fixed.conflicts),
        )
    return out


#: a run of at least this many findings of one code, file and message is packed
_PACK = 4
#: the lines a packed run of warnings takes at most (errors are always listed whole)
_WARNING_LINES = 3

#: what an info count line says about its findings (else the rule's summary)
_INFO_TEXT = {
    "ENV003": "values that differ from the template default (fix keeps them)",
    "ENV008": "keys now defined in another template of the set (fix keeps their values)",
    "ENV009": "rename hints (fix does not move values between keys)",
    "ENV010": "optional settings the template gained (commented out) that the env file "
    "does not set",
}


def grouped(findings: Sequence[Finding], options: ReportOptions, quiet: bool) -> list[str]:
    """Errors and warnings grouped by code, info as count lines (``quiet``: errors only)."""
    groups: dict[tuple[int, str, str], list[Finding]] = {}
    for f in findings:
        if quiet and f.severity != "error":
            continue
        groups.setdefault((-SEVERITY_RANK.get(f.severity, 0), f.code, f.severity), []).append(f)
    lines: list[str] = []
    color = options.color
    for (_, code, severity), group in sorted(groups.items(), key=lambda item: item[0]):
        tone = _SEVERITY_COLOR.get(severity, "") if color else ""
        reset = _RESET if color else ""
        slug = group[0].slug
        counted = plural(len(group), severity) if severity != "info" else f"{len(group)} info"
        # with --show-values, the changed defaults are what was asked for: listed, not counted
        listed = options.show_values and any(f.analysis for f in group)
        if severity == "info" and not listed:
            rule = RULES_BY_CODE.get(code)
            what = _INFO_TEXT.get(code) or (rule.summary if rule is not None else "")
            lines.append(f"{tone}{code} {slug}{reset}: {counted}" + (f": {what}" if what else ""))
            continue
        runs: dict[tuple[str, str], list[Finding]] = {}
        for f in group:
            runs.setdefault((_gist(f) if f.key else f"\0{f.line}", f.file), []).append(f)
        messages = {_gist(f) for f in group}
        if len(group) > 1:
            shared = f": {one_line(_gist(group[0]))}" if len(messages) == 1 else ""
            lines.append(f"{tone}{code} {slug}{reset}: {counted}{shared}")
        for (message, file), run in runs.items():
            if len(run) < _PACK and len(runs) > 1 and len(group) >= _PACK:
                run = [f._replace(message=_gist(f)) for f in run]  # (the gist, as the group's)
            if len(run) < _PACK:
                lines.extend(format_finding(f, color) for f in run)
                continue
            if len(messages) > 1:
                lines.append(f"  {one_line(message)}:")
            packed = _packed(
                f"  {one_line(file)}: ",
                (f"{one_line(f.key)} ({f.line})" for f in run),
                options.width,
                None if severity == "error" else _WARNING_LINES,
            )
            if severity != "error" and len(packed) > _WARNING_LINES:
                # every error is listed; a long run of warnings gets a few lines (-v: all)
                shown = sum(line.count(" (") for line in packed[:_WARNING_LINES])
                packed = packed[:_WARNING_LINES]
                packed[-1] = packed[-1].rstrip(",") + (
                    f" and {len(run) - shown} more (-v lists them)"
                )
            lines.extend(packed)
    return lines


def _gist(f: Finding) -> str:
    """``f``'s message without its change analysis (``(template default is higher than
    yours)``): a run of stale defaults or changed values is one line of names whatever each
    one's analysis (``-v`` and ``--show-values`` give it key by key); ENV013's without the
    note of a secret that fix refuses alone."""
    if f.code == "ENV013":
        return next((f.message[: -len(t)] for t in SECRET_TIES if f.message.endswith(t)), f.message)
    if not f.analysis:
        return f.message
    return f.message.replace(f" ({ANALYSIS_TEXT.get(f.analysis, '')})", "", 1)


def _packed(prefix: str, items: Iterable[str], width: int, most: int | None = None) -> list[str]:
    """``items`` joined by commas after ``prefix``, wrapped before ``width`` columns. With
    ``most``: the first ``most`` lines and the start of the next, when there are more (what a
    report that shows ``most`` lines needs to know; 5,500 keys in a run: 6 ms of a check
    not spent on lines never shown)."""
    lines: list[str] = []
    current = prefix
    fresh = True
    for item in items:
        piece = item if fresh else f", {item}"
        if not fresh and len(current) + len(piece) + 1 > width:
            lines.append(current + ",")
            current = "    " + item
            if most is not None and len(lines) >= most:
                break  # (the lines written stay as they are: only their number is asked)
        else:
            current += piece
        fresh = False
    lines.append(current)
    return lines


def _rerun(command: str, options: ReportOptions, *flags: str) -> str:
    """``envsync COMMAND FLAGS ARGS``: this run's arguments with a different subcommand (those
    only fix takes, for a fix; never ``--generate-secrets`` again; no ``--no-base`` next to a
    ``--base``, which argparse refuses)."""
    parts = ["envsync", command, *flags]
    args = options.rerun
    if command == "check" and options.rerun_check is not None:
        args = options.rerun_check
    if args and any(f.startswith("--base") for f in flags):
        # (split and joined on single spaces: the quoting of the other words is untouched)
        args = " ".join(w for w in args.split(" ") if w != "--no-base")
    if args:
        parts.append(args)
    return " ".join(parts)


def _generate_args(f: Finding) -> str:
    """``--generate-secrets KEY`` for an ENV013 finding, or "" for one whose value other keys
    share or hold inside their own (its message ends with a note: fix refuses it alone)."""
    if any(f.message.endswith(t) for t in SECRET_TIES):
        return ""
    return f"--generate-secrets {shell_quote(f.key)}"


def next_steps(results: Sequence[PairResult], options: ReportOptions, counts: Counts) -> list[str]:
    """At most three commands that would resolve what was found, most pressing first."""
    by_code = counts.by_code
    live = [p for p in results if not p.skipped]
    steps: list[str] = []
    syntax = [f for p in live for f in p.findings if f.code == "ENV007"]
    if syntax:
        first = syntax[0]
        steps.append(
            f"edit {location(one_line(first.file), first.line)}  # Docker Compose rejects "
            f"{'this file' if len(syntax) == 1 else f'{len(syntax)} lines'}; fix refuses until then"
        )
    can_fix = options.can_fix  # (not with --env -: fix cannot write a pipe)
    fixable = _fix_would(live, options.command) if can_fix else ""
    if fixable and not syntax:
        steps.append(f"{_rerun('fix', options)}  # {fixable}")
    elif can_fix and any(p.fixed is not None and p.fixed.dry_run and p.changed for p in live):
        # (with --generate-secrets: the change shown has fresh values, and so will this one)
        write = options._replace(rerun=options.rerun_write or options.rerun)
        steps.append(f"{_rerun('fix', write)}  # write the change shown above")
    loose = [p.env for p in live if any(f.code == "ENV011" and not f.key for f in p.findings)]
    if loose:
        names = " ".join(shell_quote(one_line(e)) for e in loose)
        steps.append(f"chmod 600 {names}  # only you may read it (ENV011)")
    # (only the keys a pair's template assigns or offers commented out, which its services
    # read from the env file: not those kept at the end at a published default, moved to
    # another template of the set or removed, which an upgrade leaves untouched by the dozen)
    published = [
        f
        for p in live
        for f in p.findings
        if f.code == "ENV013"
        and (f.file == p.template or f.key in p.opt_in_secrets)
        and f.key
        and plausible_key(f.key)
    ]
    # (the first that fix takes alone, as its message says: not one whose value other keys
    # share or hold inside their own, which fix refuses)
    chosen = [c for c in map(_generate_args, published) if c]
    if chosen and can_fix:
        more = (
            f" (and the other {len(published) - 1} the template assigns)"
            if len(published) > 1
            else ""
        )
        steps.append(
            f"{_rerun('fix', options, chosen[0])}  # a "
            f"fresh value for a published secret{more}; a database password changes in the "
            f"database too"
        )
    changed = by_code.get("ENV003", 0) + by_code.get("ENV004", 0) + by_code.get("ENV005", 0)
    if changed and not options.show_values:
        steps.append(
            f"{_rerun('check', options, '--show-values')}  # see the "
            f"{plural(changed, 'changed default')} side by side"
        )
    elif by_code.get("ENV005", 0) and can_fix:
        steps.append(
            f"{_rerun('fix', options, '--take-template KEY')}  # take the new default "
            f"for a conflict you reviewed"
        )
    if by_code.get("ENV003", 0) and not _any_base(live):
        steps.append(
            f"{_rerun('check', options, '--base OLD.env.example')}  # the previous template "
            f"tells stale defaults from your changes"
        )
    # info findings the screenful only counted (with --show-values it lists changed defaults)
    hidden = options.verbosity == 0 and any(
        f.severity == "info" and not (options.show_values and f.analysis)
        for p in live
        for f in p.findings
    )
    if hidden:
        steps.append(f"{_rerun('check', options, '-v')}  # every finding, one a line")
    return steps[:3]


def _any_base(pairs: Sequence[PairResult]) -> bool:
    """Some pair was compared with a base."""
    return any(p.base_source != "none" for p in pairs)


def _fix_would(pairs: Sequence[PairResult], command: str) -> str:
    """What running fix would do, ``adds 36 missing keys, ...``; empty when nothing."""
    missing = stale = drops = 0
    creates: list[str] = []
    for p in pairs:
        if command == "fix" and p.fixed is not None:
            continue  # its findings are those that remain after the merge
        for f in p.findings:
            if f.code == "ENV001":
                missing += 1
            elif f.code == "ENV004" and "takes the new default" in f.message:
                stale += 1
            elif f.code == "ENV002" and "fix drops it" in f.message:
                drops += 1
            elif f.code == "ENV012":
                creates.append(p.env)
    parts = []
    if missing:
        parts.append(f"adds {plural(missing, 'missing key')}")
    if stale:
        parts.append(f"updates {plural(stale, 'stale default')}")
    if drops:
        parts.append(f"drops {plural(drops, 'old default')} the template removed")
    if creates:
        parts.append("creates " + ", ".join(one_line(e) for e in creates) + " from the template")
    return ", ".join(parts)


def shell_quote(word: str) -> str:
    """``word`` quoted for a POSIX shell when it needs it; control characters and workflow
    commands made inert first (:func:`one_line`): the command is printed, never run."""
    word = one_line(word)
    if word and all(c.isalnum() or c in "@%+=:,./-_" for c in word):
        return word
    return "'" + word.replace("'", "'\"'\"'") + "'"
