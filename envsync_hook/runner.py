"""Check and fix one template/env pair: reads and writes through ``files``, decides through the pure
core.

Nothing here prints; the CLI prints what these functions return.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from itertools import filterfalse
from pathlib import Path

from envsync_hook.base import BaseChoice, choose_base, write_record
from envsync_hook.compare import (
    DROP,
    KEEP,
    KEEPS_SECRET,
    TAKE,
    TRAIL,
    UNDER,
    Comparison,
    KeyList,
    Side,
    after_fix,
    canonical,
    compare,
    index,
    like,
    syntax_findings,
    with_decisions,
)
from envsync_hook.document import (
    Document,
    parse,
    template_errors,
    unclosed_quote,
    without_quote,
)
from envsync_hook.errors import EnvsyncError
from envsync_hook.escaping import all_plausible, shown_key
from envsync_hook.files import atomic, backups, locking, reading, targets
from envsync_hook.findings import Finding, FixActions, PairResult, joined_notice, make_finding
from envsync_hook.lean import NamedTuple
from envsync_hook.settings import Settings


class Job(NamedTuple):
    """One pair to process, with its set and base."""

    template: Path
    env: Path
    also: tuple[Path, ...] = ()
    base: Path | None = None
    base_ref: str | None = None
    #: a pair found through ``--also``: skipped quietly when its env file does not exist
    optional: bool = False
    #: this pair's backup directory (configuration ``pairs``); else the run's
    backup_dir: str | None = None
    #: the commit before the checkout or merge, in an upgrade-hook run (``--upgrade-hook``):
    #: the base, unless a sync record is newer (base.py)
    hook_ref: str | None = None
    #: the env file's text when it came from standard input or a pipe (``--env -``): nothing
    #: is read from, checked at or written to ``env`` then (check, fix --dry-run/--diff only)
    env_text: str | None = None
    #: ``--no-base``: two-way, whatever record or history there is
    no_base: bool = False
    #: absolute paths of the files named on the command line (template, ``--env``, ``--base``):
    #: only those are read through a symlink leading out of the current directory
    explicit: frozenset[str] = frozenset()


class FixOptions(NamedTuple):
    dry_run: bool = False
    diff: bool = False
    backup_dir: str | None = None
    if_missing: str = "fail"
    #: change an env file that is read-only for its owner (refused by default)
    force: bool = False


class FixOutcome(NamedTuple):
    result: PairResult
    diff: str
    backup: Path | None


class Loaded(NamedTuple):
    template: Side
    also: tuple[Side, ...]
    base: Side | None
    #: where the base came from (base.py), for the report
    choice: BaseChoice


def _display(path: Path) -> str:
    return str(path)


def _read(job: Job, path: Path, what: str) -> str:
    """Read a file of the job; one not named on the command line must not lead out of the
    folder through a symlink (a planted ``.env.example -> ~/.ssh/id_rsa``)."""
    return reading.read_text(path, what, confine=os.path.abspath(path) not in job.explicit)


def load_templates(job: Job) -> Loaded:
    """Read the template, the rest of its set and its base; raises EnvsyncError."""
    ttext = _read(job, job.template, "template")
    template = index(_display(job.template), parse(ttext))
    # (a template that assigns no key, all of them commented out or none, is a valid template)
    also = tuple(index(_display(p), parse(_read(job, p, "template"))) for p in job.also)
    return Loaded(template, also, None, BaseChoice(None, "none"))


def held_defaults(env: Side, c: Comparison) -> str:
    """The previous defaults fix kept (``Comparison.held``: a stale default kept, a secret the
    template moved or removed, an opt-in) as ``KEY=value`` lines, as the env file writes them.

    The sync record holds what the env file is in sync with; for these keys that is still the
    previous template's default, so the next run sees them stale again (not customised) and
    ENV013 still knows the published value."""
    text, last = env.doc.text, env.last
    out = []
    for key in c.held:
        if c.decisions.get(key) != DROP and key in last:
            start, end = env.doc.value_span(last[key])
            out.append(f"{key}={text[start:end]}\n")
    return "".join(out)


def _record(job: Job, loaded: Loaded, bdir: Path, held: str = "") -> str:
    """Write the sync record: the template set the env file is now in sync with (base.py),
    and ``held`` (:func:`held_defaults`) after the template's text, where it overrides.

    The env file is already written: a record that cannot be written is a notice (returned),
    not a failure; the next run falls back to the next source of a base. A ``--no-base`` run
    leaves the record as it is: it compared two-way, so it cannot tell a stale default from a
    customisation, and a new record would make every stale one look customised."""
    if job.no_base:
        return ""
    ttext = loaded.template.doc.text
    if held:
        ttext += ("" if ttext.endswith(("\n", "\r")) or not ttext else "\n") + held
    texts = [(job.template, ttext)]
    texts += [(p, side.doc.text) for p, side in zip(job.also, loaded.also)]
    try:
        write_record(job.env, bdir, texts)
    except (EnvsyncError, OSError) as e:
        return f"{job.env}: sync record not written ({e})"
    return ""


def _with_base(result: PairResult, loaded: Loaded) -> PairResult:
    """``result`` with the base's source and detail and the set's size filled in."""
    return result._replace(
        notice=result.notice or loaded.choice.notice,
        base_source=loaded.choice.source,
        base_detail=loaded.choice.detail,
        set_size=1 + len(loaded.also),
    )


def _permission_findings(env: Path, backup_dir: Path, settings: Settings) -> list[Finding]:
    out: list[Finding] = []
    sev = settings.severity_of("ENV011")
    if sev == "off":
        return out
    mode = reading.file_mode(env)
    if mode is not None and mode & 0o077:
        out.append(
            make_finding(
                "ENV011",
                "",
                str(env),
                1,
                f"mode {mode:04o}: readable or writable by group or others; run chmod 600 {env}",
                sev,
            )
        )
    if backup_dir.is_dir():
        loose = [
            b for b in backups.list_backups(env, backup_dir) if (reading.file_mode(b) or 0) & 0o077
        ]
        if loose:
            out.append(
                make_finding(
                    "ENV011",
                    "",
                    str(env),
                    1,
                    f"{len(loose)} backup(s) in {backup_dir} "
                    "readable or writable by group or others",
                    sev,
                )
            )
    return out


def _missing(job: Job, loaded: Loaded, settings: Settings, started: float) -> PairResult:
    findings = syntax_findings(loaded.template.path, loaded.template.doc, settings)
    sev = settings.severity_of("ENV012")
    if sev != "off":
        findings.append(
            make_finding(
                "ENV012",
                "",
                loaded.template.path,
                1,
                f"env file {job.env} does not exist; fix creates it from the template",
                sev,
            )
        )
    return _with_base(
        PairResult(
            loaded.template.path,
            str(job.env),
            tuple(sorted(findings)),
            KeyList(loaded.template),
            duration=time.perf_counter() - started,
        ),
        loaded,
    )


def _skipped(job: Job, loaded: Loaded, started: float, why: str) -> PairResult:
    return _with_base(
        PairResult(
            loaded.template.path,
            str(job.env),
            (),
            skipped=True,
            duration=time.perf_counter() - started,
            notice=f"{job.env}: does not exist; skipped ({why})",
        ),
        loaded,
    )


def _compare(
    job: Job, loaded: Loaded, edoc: Document, settings: Settings, bdir: Path | None
) -> tuple[Side, Comparison, Loaded]:
    """Pick the base (base.py: option, sync record in ``bdir``, hook ref, git history), then
    compare; ``loaded`` comes back with the base and where it came from."""
    env = index(str(job.env), edoc)
    choice = choose_base(job, loaded.template, env, bdir)
    loaded = loaded._replace(base=choice.side, choice=choice)
    c = compare(loaded.template, env, settings, loaded.base, loaded.also, loaded.choice.history)
    return env, c, loaded


def _summary_notice(c: Comparison) -> str:
    parts = []
    if c.stale_updated:
        parts.append(f"{c.stale_updated} stale default(s) updated")
    if c.conflicts:
        parts.append(f"{c.conflicts} conflict(s) need a decision")
    return ", ".join(parts)


def _opt_in_secrets(c: Comparison, findings: Iterable[Finding]) -> frozenset[str]:
    """The keys of ENV013 ``findings`` that are opt-ins (see ``PairResult.opt_in_secrets``)."""
    return frozenset(
        f.key for f in findings if f.code == "ENV013" and c.decisions.get(f.key) == UNDER
    )


def check_pair(job: Job, settings: Settings, if_missing: str, backup_dir: str | None) -> PairResult:
    """Check one pair. A template with an unclosed quote is checked as if the quote were not
    there, with one ENV007 at the line where it opened (as for the env file), not at the line
    far below where Docker Compose fails; fix refuses such a template."""
    started = time.perf_counter()
    loaded = load_templates(job)
    quoted: list[Finding] = []
    if loaded.template.doc.errors:
        path = loaded.template.path
        tdoc, quoted = _past_unclosed_quotes(path, loaded.template.doc, settings)
        loaded = loaded._replace(template=index(path, tdoc))
    if any(side.doc.errors for side in loaded.also):
        loaded, more = _also_past_syntax_errors(loaded, settings)
        quoted += more
    result = _check_loaded(job, loaded, settings, if_missing, backup_dir, started)
    if quoted:
        result = result._replace(findings=tuple(sorted((*result.findings, *quoted))))
    return result


def _also_past_syntax_errors(loaded: Loaded, settings: Settings) -> tuple[Loaded, list[Finding]]:
    """The other templates of the set read past their unclosed quotes, with their syntax errors
    as ENV007 (compare reports those of the primary template and the env file only)."""
    from envsync_hook.compare import syntax_findings

    found: list[Finding] = []
    also = []
    for side in loaded.also:
        if side.doc.errors:
            doc, quoted = _past_unclosed_quotes(side.path, side.doc, settings)
            found += quoted or syntax_findings(side.path, doc, settings)
            side = index(side.path, doc)
        also.append(side)
    return loaded._replace(also=tuple(also)), found


def _check_loaded(
    job: Job,
    loaded: Loaded,
    settings: Settings,
    if_missing: str,
    backup_dir: str | None,
    started: float,
) -> PairResult:
    if job.env_text is not None:  # from a pipe: no file, so no mode to check
        env, c, loaded = _compare(job, loaded, parse(job.env_text), settings, None)
        return _with_base(
            PairResult(
                loaded.template.path,
                str(job.env),
                tuple(c.findings),
                c.keys,
                duration=time.perf_counter() - started,
            ),
            loaded,
        )
    if not os.path.lexists(job.env):
        if if_missing == "skip" or job.optional:
            return _skipped(
                job, loaded, started, "--if-missing skip" if not job.optional else "optional"
            )
        return _missing(job, loaded, settings, started)
    etext = _read(job, job.env, "env file")
    bdir = backups.backup_dir_for(job.env, job.backup_dir or backup_dir)
    edoc = parse(etext, like(loaded.template))
    quoted: list[Finding] = []
    if edoc.errors:
        edoc, quoted = _past_unclosed_quotes(str(job.env), edoc, settings)
    env, c, loaded = _compare(job, loaded, edoc, settings, bdir)
    more = quoted + _permission_findings(job.env, bdir, settings)
    findings = sorted(c.findings + more) if more else c.findings  # (compare sorts its own)
    return _with_base(
        PairResult(
            loaded.template.path,
            str(job.env),
            tuple(findings),
            c.keys,
            duration=time.perf_counter() - started,
            offers=c.offers,
            opt_in_secrets=_opt_in_secrets(c, findings),
        ),
        loaded,
    )


def _past_unclosed_quotes(
    path: str, doc: Document, settings: Settings
) -> tuple[Document, list[Finding]]:
    """``doc`` read as if its unclosed quotes were not there, and one ENV007 for each, at the
    line where it opened.

    A quote left open makes Docker Compose read on into the following lines and fail far below
    (or at the end of the file); the keys it swallowed would show up as missing and the text
    after it as hundreds of follow-on errors. The operator needs the one line to edit.
    """
    found: list[Finding] = []
    sev = settings.severity_of("ENV007")
    for _ in range(20):  # (each round takes one quote away: a bound, not a limit in practice)
        quote = unclosed_quote(doc)
        if quote is None:
            break
        if sev != "off":
            found.append(
                make_finding(
                    "ENV007",
                    "",
                    path,
                    quote.line,
                    f"Docker Compose rejects this file: the {quote.quote} opened on this line "
                    f"is never closed (Compose reads on and fails at line {quote.error_line})",
                    sev,
                )
            )
        doc = parse(without_quote(doc.text, quote))
    return doc, found


def _refuse_syntax(path: str, doc: Document) -> None:
    issues = template_errors(doc)
    quote = unclosed_quote(doc) if doc.errors else None
    if quote is not None:
        raise EnvsyncError(
            f"refusing to fix: {path}:{quote.line}: the {quote.quote} opened on this line is "
            f"never closed (Docker Compose reads on and fails at line {quote.error_line}); "
            f"nothing was written"
        )
    if issues:
        from envsync_hook.compare import syntax_message

        first = issues[0]
        more = f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""
        raise EnvsyncError(
            f"refusing to fix: {path}:{first.line}: {syntax_message(first.message)}{more}; "
            f"nothing was written"
        )


def _generate(settings: Settings, text: str) -> tuple[str, list[str]]:
    """``text`` with fresh random values for the keys of ``--generate-secrets`` (and those
    keys), or ``text`` as it is."""
    if not settings.generate_secrets:
        return text, []
    from envsync_hook.generate import generate_secrets

    return generate_secrets(text, settings.generate_secrets, settings.secret_patterns)


def _remaining(
    job: Job, loaded: Loaded, first: Comparison, new_doc: Document, settings: Settings, fresh: bool
) -> tuple[list[Finding], KeyList]:
    """The findings that remain in the merged text (already parsed by the merge's own check),
    with the same templates and base, at their new lines, and the keys it checks: worked out
    from ``first``, the comparison it was merged from (:func:`compare.after_fix`), or, when
    ``--generate-secrets`` put ``fresh`` values in, compared again."""
    from envsync_hook.merge import merged_index

    merged_side = merged_index(str(job.env), new_doc, loaded.template)
    args = (loaded.base, loaded.also, loaded.choice.history)
    if fresh:
        c = compare(loaded.template, merged_side, settings, *args)
        return c.findings, c.keys
    return after_fix(first, loaded.template, merged_side, settings, *args)


def _generate_note(job: Job, settings: Settings, generated: list[str]) -> str:
    """The notice for ``--generate-secrets`` patterns that changed nothing (a typo is not
    silent), or ""."""
    if not settings.generate_secrets:
        return ""
    from envsync_hook.generate import unmatched_note

    return unmatched_note(str(job.env), settings.generate_secrets, generated)


def _diff(settings: Settings, env: Path, old: str, new: str) -> str:
    """The unified diff fix makes (values masked unless ``--show-values``)."""
    from envsync_hook.diffing import masked_diff

    return masked_diff(
        old,
        new,
        f"{env} (current)",
        f"{env} (after fix)",
        settings.show_values,
        settings.secret_patterns,
    )


def _preview_piped(
    job: Job, loaded: Loaded, settings: Settings, diff: bool, started: float
) -> FixOutcome:
    """``fix --dry-run``/``--diff`` of an env file read from a pipe: the merge, never written."""
    from envsync_hook.merge import merge, own_comments

    etext = job.env_text or ""
    edoc = parse(etext)
    _refuse_syntax(str(job.env), edoc)
    env, c, loaded = _compare(job, loaded, edoc, settings, None)
    comments = own_comments(
        loaded.template, env, c.decisions, (loaded.base, *loaded.also), loaded.base is not None
    )
    new, _generated = _generate(
        settings, merge(loaded.template, env, c, job.template.name, comments)
    )
    changed = new != etext
    notice = (
        joined_notice(
            f"{job.env}: would change (dry run, nothing written)",
            _lost_comments_note(job, comments.lost, changed, loaded.base is not None),
        )
        if changed
        else ""
    )
    result = _with_base(
        PairResult(
            loaded.template.path,
            str(job.env),
            tuple(c.findings),
            c.keys,
            changed=changed,
            duration=time.perf_counter() - started,
            notice=notice,
        ),
        loaded,
    )
    return FixOutcome(
        result, _diff(settings, job.env, etext, new) if changed and diff else "", None
    )


def fix_actions(
    template: Side,
    env: Side,
    c: Comparison,
    settings: Settings,
    backup: str,
    dry_run: bool,
    generated: Sequence[str] = (),
) -> FixActions:
    """What the merge of ``c`` does to ``env``, key by key (names and counts, no values).

    ``generated``: the keys ``--generate-secrets`` gave a fresh value. It runs on the merged
    text, so that value is the one written, also for a key ``--take-template`` names: those
    keys are named as such, and left out of the lists that say the template default (added,
    updated, taken) or the operator's value (kept, to review) was written."""
    fresh = frozenset(generated)
    elast, tlast = env.last, template.last
    added = tuple(filterfalse(elast.__contains__, tlast))
    if fresh:
        added = tuple(k for k in added if k not in fresh)
    takes = settings.takes_template if settings.take_template else None
    updated: list[str] = []
    taken: list[str] = []
    took, trailing, dropped = with_decisions(c.decisions, TAKE, TRAIL, DROP)
    for key in took:
        if key not in fresh:
            (taken if takes is not None and takes(key) else updated).append(key)
    # values kept that differ from the template's (only the keys whose text differs can)
    ttemplates, etemplates = template.doc.templates, env.doc.templates
    kept = sum(
        1
        for k in (c.unequal if c.unequal is not None else tlast)
        if c.decisions.get(k) == KEEP
        and k in elast
        and k not in fresh
        and canonical(etemplates[elast[k]]) != canonical(ttemplates[tlast[k]])
    )
    # to review: conflicts, and the stale secrets fix keeps (ENV004 with KEEPS_SECRET)
    conflicts = tuple(
        f.key
        for f in c.findings
        if (f.code == "ENV005" or (f.code == "ENV004" and KEEPS_SECRET in f.message))
        and f.key in elast
        and f.key not in fresh
    )
    return FixActions(
        _shown(added, template, c.keys.odd),
        _shown(updated, template, c.keys.odd),
        _shown(taken, template, c.keys.odd),
        kept,
        _shown(trailing, env, c.keys.odd),
        _shown(dropped, env, c.keys.odd),
        _shown(conflicts, env, c.keys.odd),
        backup,
        dry_run=dry_run,
        relocated=sum(1 for k in trailing if k in c.relocated),
        # (the merge writes a key once: a duplicate not dropped as a whole loses its earlier
        # assignments)
        duplicates=tuple(k for k in env.dups if c.decisions.get(k) != DROP),
        generated=tuple(generated),
    )


def _shown(keys: Sequence[str], side: Side, odd: frozenset[str]) -> tuple[str, ...]:
    """``keys`` of ``side`` as every report shows them: a key that is no plausible name, or
    stands mid-line (``odd``), by its line (``<key on line N>``), never as text: a line of a
    pasted PEM or token is read as a key. One check of all the names in the usual case."""
    if all_plausible(list(keys)) and odd.isdisjoint(keys):
        return tuple(keys)
    lines, last = side.doc.lines, side.last
    return tuple(shown_key(k, lines[last[k]], odd) for k in keys)


def fix_pair(job: Job, settings: Settings, opts: FixOptions) -> FixOutcome:
    """Merge the template into the env file (or create it), with a backup first.

    The steps: the templates loaded and refused when broken; an env file from a pipe only
    previewed; a missing env file created from the template; otherwise, under the lock, the
    env file read, compared and merged (:func:`_merge_env`), and then, as the run asks, the
    outcome in sync, a preview, or the file replaced after its backup
    (:func:`_replace_env`)."""
    started = time.perf_counter()
    loaded = load_templates(job)
    _refuse_syntax(loaded.template.path, loaded.template.doc)
    for side in loaded.also:  # (a broken template of the set would misplace keys, or drop them)
        _refuse_syntax(side.path, side.doc)
    if job.env_text is not None:
        if not (opts.dry_run or opts.diff):  # (the CLI refuses this first, as a usage error)
            raise EnvsyncError(f"fix cannot write back to {job.env}; use --dry-run or --diff")
        return _preview_piped(job, loaded, settings, opts.diff, started)
    bdir = backups.backup_dir_for(job.env, job.backup_dir or opts.backup_dir)
    if os.path.abspath(job.env) not in job.explicit:
        targets.check_inside_project(job.env, "env file")
    if not os.path.lexists(job.env):
        created = _create_env(job, loaded, settings, opts, bdir, started)
        if created is not None:
            return created
    targets.check_writable_target(job.env, bdir)
    with locking.env_lock(job.env):
        etext = reading.read_env(job.env)  # (no symlink followed out of its folder, even now)
        m = _merge_env(job, loaded, settings, bdir, etext)
        diff = _diff(settings, job.env, etext, m.new) if m.changed and opts.diff else ""
        if not m.changed:
            outcome = _in_sync(job, m, opts, bdir, diff, started)
        else:
            if not opts.force:
                targets.refuse_read_only(job.env)  # (in a dry run too: what fix would do)
            if opts.dry_run or opts.diff:
                outcome = _preview(job, m, settings, diff, started)
            else:
                outcome = _replace_env(job, m, settings, opts, bdir, etext, diff, started)
    return _with_permissions(outcome, job.env, bdir, settings)


def _with_permissions(outcome: FixOutcome, env: Path, bdir: Path, settings: Settings) -> FixOutcome:
    """The outcome with ENV011 for the env file and its backups as they stand after fix (it
    keeps the env file's mode: a file others can read stays so, as check reports too)."""
    more = _permission_findings(env, bdir, settings)
    if not more:
        return outcome
    result = outcome.result
    return outcome._replace(
        result=result._replace(findings=tuple(sorted((*result.findings, *more))))
    )


class _Merged(NamedTuple):
    """An env file compared and merged, not yet written."""

    env: Side
    comparison: Comparison
    loaded: Loaded  # with the base chosen
    new: str  # the text fix would write
    new_doc: Document  # ``new`` parsed
    generated: list[str]  # keys given fresh random values (--generate-secrets)
    gen_note: str
    changed: bool
    result: PairResult  # the comparison's findings (those a fresh value replaced left out)
    lost_note: str  # the operator's own comment lines the merged file lacks (or "")


def _merge_env(job: Job, loaded: Loaded, settings: Settings, bdir: Path, etext: str) -> _Merged:
    """Parse ``etext`` (refused with a syntax error), compare it (the base chosen), merge it,
    and put in the fresh secrets ``--generate-secrets`` asks for."""
    from envsync_hook.merge import merged, own_comments

    edoc = parse(etext, like(loaded.template))
    _refuse_syntax(str(job.env), edoc)
    env, c, loaded = _compare(job, loaded, edoc, settings, bdir)
    comments = own_comments(
        loaded.template, env, c.decisions, (loaded.base, *loaded.also), loaded.base is not None
    )
    text, new_doc = merged(loaded.template, env, c, job.template.name, comments)
    new, generated = _generate(settings, text)
    if generated:  # (fresh secrets went in: the findings that remain are the final text's)
        new_doc = parse(new, like(env, loaded.template))
    findings = tuple(c.findings)  # (sorted by compare)
    if generated:  # a published default that was just replaced is no longer one
        fresh_keys = set(generated)
        findings = tuple(f for f in findings if not (f.code == "ENV013" and f.key in fresh_keys))
    changed = new != etext
    result = PairResult(
        loaded.template.path,
        str(job.env),
        findings,
        c.keys,
        changed=changed,
        opt_in_secrets=_opt_in_secrets(c, findings),
    )
    return _Merged(
        env,
        c,
        loaded,
        new,
        new_doc,
        generated,
        _generate_note(job, settings, generated),
        changed,
        _with_base(result, loaded),
        _lost_comments_note(job, comments.lost, changed, loaded.base is not None),
    )


def _lost_comments_note(job: Job, lost: list[int], changed: bool, base: bool) -> str:
    """The notice for the comment lines of the env file that no template has and that the
    merged file does not hold: how many and their lines, never their text. With a base they
    are the operator's (above a key fix drops, or above no key); without one fix keeps none,
    as it cannot tell them from an earlier release's comments."""
    if not lost or not changed:
        return ""
    shown = ", ".join(map(str, lost[:12]))
    shown += f" and {len(lost) - 12} more" if len(lost) > 12 else ""
    many = len(lost) != 1
    lines = f"{len(lost)} comment line{'s' if many else ''}"
    where = f"line{'s' if many else ''} {shown}"
    them, are = ("them", "are") if many else ("it", "is")
    if base:
        return (
            f"{job.env}: {lines} of yours {are} not in the new file ({where}: above a key fix "
            f"drops, or above no key); the backup keeps {them}"
        )
    return (
        f"{job.env}: {lines} that no template has {are} not in the new file ({where}): yours "
        f"or an earlier release's, which fix tells apart only with a base (--base); the "
        f"backup keeps {them}"
    )


def _in_sync(
    job: Job, m: _Merged, opts: FixOptions, bdir: Path, diff: str, started: float
) -> FixOutcome:
    """Nothing to change: the sync record says what with (not in a dry run)."""
    recorded = (
        ""
        if opts.dry_run or opts.diff
        else _record(job, m.loaded, bdir, held_defaults(m.env, m.comparison))
    )
    notice = joined_notice(m.gen_note, recorded)
    return FixOutcome(
        m.result._replace(
            duration=time.perf_counter() - started, notice=notice, fixed=FixActions()
        ),
        diff,
        None,
    )


def _fix_summary(m: _Merged) -> str:
    """What fix did, for its notice: stale defaults and conflicts, fresh secrets."""
    summary = _summary_notice(m.comparison)
    if m.generated:
        from envsync_hook.generate import shared_note

        fresh = f"fresh random value(s) for {', '.join(m.generated)}"
        fresh += shared_note(m.new, m.generated)
        summary = f"{summary}; {fresh}" if summary else fresh
    return summary


def _preview(job: Job, m: _Merged, settings: Settings, diff: str, started: float) -> FixOutcome:
    """``--dry-run``/``--diff``: what fix would do, and the findings the merge would leave, at
    their lines in the file as it stands."""
    notice = joined_notice(
        f"{job.env}: would change (dry run, nothing written)", m.lost_note, m.gen_note
    )
    actions = fix_actions(m.loaded.template, m.env, m.comparison, settings, "", True, m.generated)
    after, _keys = _remaining(job, m.loaded, m.comparison, m.new_doc, settings, bool(m.generated))
    remain = {(f.code, f.key) for f in after}
    return FixOutcome(
        m.result._replace(
            findings=tuple(f for f in m.result.findings if (f.code, f.key) in remain),
            duration=time.perf_counter() - started,
            notice=notice,
            fixed=actions,
        ),
        diff,
        None,
    )


def _replace_env(
    job: Job,
    m: _Merged,
    settings: Settings,
    opts: FixOptions,
    bdir: Path,
    etext: str,
    diff: str,
    started: float,
) -> FixOutcome:
    """Back up ``etext`` and replace the env file with the merged text, if it still holds
    ``etext``: an edit made meanwhile by another program (which does not take our lock) is
    refused, not silently reverted. Then the sync record, and the findings that remain (those
    of the merged text, not the ones fix just resolved)."""
    summary = _fix_summary(m)
    actions = fix_actions(m.loaded.template, m.env, m.comparison, settings, "", False, m.generated)
    held = held_defaults(m.env, m.comparison)
    backup = backups.replace_with_backup(job.env, m.new, bdir, expect=etext)
    recorded = _record(job, m.loaded, bdir, held)  # after the replace: what it syncs with
    actions = actions._replace(backup=str(backup))
    after, after_keys = _remaining(
        job, m.loaded, m.comparison, m.new_doc, settings, bool(m.generated)
    )
    detail = f"; {summary}" if summary else ""
    notice = joined_notice(
        f"{job.env}: updated from {job.template} (backup: {backup}){detail}",
        m.lost_note,
        recorded,
        m.gen_note,
    )
    return FixOutcome(
        m.result._replace(
            findings=tuple(after),
            keys=after_keys,
            duration=time.perf_counter() - started,
            notice=notice,
            fixed=actions,
        ),
        diff,
        backup,
    )


def _create_env(
    job: Job,
    loaded: Loaded,
    settings: Settings,
    opts: FixOptions,
    bdir: Path,
    started: float,
) -> FixOutcome | None:
    """No env file: skipped (``--if-missing skip``, an optional one), previewed, or created
    from the template (mode 0600, fresh secrets where asked, the sync record written). None
    when another run created it meanwhile: it is merged like any other."""
    if opts.if_missing == "skip" or job.optional:
        why = "--if-missing skip" if not job.optional else "optional"
        return FixOutcome(_skipped(job, loaded, started, why), "", None)
    targets.check_writable_target(job.env, bdir)
    result = _missing(job, loaded, settings, started)
    if opts.dry_run or opts.diff:
        return FixOutcome(
            result._replace(
                changed=True,
                notice=f"{job.env}: would be created from the template",
                fixed=FixActions(created=True, dry_run=True),
            ),
            "",
            None,
        )
    with locking.env_lock(job.env):
        if os.path.lexists(job.env):
            return None
        created, generated = _generate(settings, loaded.template.doc.text)
        atomic.atomic_write(job.env, created, mode=0o600)
        recorded = _record(job, loaded, bdir)
    notice = joined_notice(
        f"{job.env}: created from {job.template} (mode 0600); review it",
        recorded,
        _generate_note(job, settings, generated),
    )
    after = _after_setup(job, loaded, settings, created, bdir, started)
    fixed = FixActions(created=True, generated=tuple(generated))
    return FixOutcome(after._replace(changed=True, notice=notice, fixed=fixed), "", None)


def _after_setup(
    job: Job, loaded: Loaded, settings: Settings, created: str, bdir: Path, started: float
) -> PairResult:
    """What remains after fix created the env file: what ``check`` gives right after (the
    file compared with the base check would pick, the sync record just written, and its
    mode), not the ENV012 that the creation resolved. The base it names is the creation's
    (none): the record check would take was written by this run."""
    _env, c, compared = _compare(job, loaded, parse(created, like(loaded.template)), settings, bdir)
    result = PairResult(
        compared.template.path,
        str(job.env),
        tuple(c.findings),
        c.keys,
        duration=time.perf_counter() - started,
        offers=c.offers,
        opt_in_secrets=_opt_in_secrets(c, c.findings),
    )
    outcome = _with_permissions(FixOutcome(result, "", None), job.env, bdir, settings)
    return _with_base(outcome.result, loaded)
