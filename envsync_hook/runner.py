"""Check and fix one template/env pair: reads and writes through ``files``, decides through the pure
core.

Nothing here prints; the CLI prints what these functions return.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import NamedTuple

from envsync_hook.base import BaseChoice, choose_base, write_record
from envsync_hook.compare import (
    DROP,
    KEEP,
    KEEPS_SECRET,
    TAKE,
    TRAIL,
    Comparison,
    KeyList,
    Side,
    after_fix,
    canonical,
    compare,
    index,
    syntax_findings,
)
from envsync_hook.document import Document, parse, template_errors, unclosed_quote, without_quote
from envsync_hook.errors import EnvsyncError
from envsync_hook.files import atomic, backups, locking, reading, targets
from envsync_hook.findings import Finding, FixActions, PairResult, make_finding
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
        parts.append(f"{c.stale_updated} stale default(s)")
    if c.conflicts:
        parts.append(f"{c.conflicts} conflict(s) need a decision")
    return ", ".join(parts)


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
    edoc = parse(etext)
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
    merged_side = index(str(job.env), new_doc)
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
    from envsync_hook.merge import merge

    etext = job.env_text or ""
    edoc = parse(etext)
    _refuse_syntax(str(job.env), edoc)
    env, c, loaded = _compare(job, loaded, edoc, settings, None)
    new, _generated = _generate(settings, merge(loaded.template, env, c, job.template.name))
    changed = new != etext
    notice = f"{job.env}: would change (dry run, nothing written)" if changed else ""
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
    template: Side, env: Side, c: Comparison, settings: Settings, backup: str, dry_run: bool
) -> FixActions:
    """What the merge of ``c`` does to ``env``, key by key (names and counts, no values)."""
    elast, tlast = env.last, template.last
    added = tuple(k for k in tlast if k not in elast)
    takes = settings.takes_template if settings.take_template else None
    updated: list[str] = []
    taken: list[str] = []
    trailing: list[str] = []
    dropped: list[str] = []
    for key, decision in c.decisions.items():
        if decision == TAKE:
            (taken if takes is not None and takes(key) else updated).append(key)
        elif decision == TRAIL:
            trailing.append(key)
        elif decision == DROP:
            dropped.append(key)
    # values kept that differ from the template's (only the keys whose text differs can)
    ttemplates, etemplates = template.doc.templates, env.doc.templates
    kept = sum(
        1
        for k in (c.unequal if c.unequal is not None else tlast)
        if c.decisions.get(k) == KEEP
        and k in elast
        and canonical(etemplates[elast[k]]) != canonical(ttemplates[tlast[k]])
    )
    # to review: conflicts, and the stale secrets fix keeps (ENV004 with KEEPS_SECRET)
    conflicts = tuple(
        f.key
        for f in c.findings
        if f.key in elast
        and (f.code == "ENV005" or (f.code == "ENV004" and KEEPS_SECRET in f.message))
    )
    return FixActions(
        added,
        tuple(updated),
        tuple(taken),
        kept,
        tuple(trailing),
        tuple(dropped),
        conflicts,
        backup,
        dry_run=dry_run,
        relocated=sum(1 for k in trailing if k in c.relocated),
        # (the merge writes a key once: a duplicate not dropped as a whole loses its earlier
        # assignments)
        duplicates=tuple(k for k in env.dups if c.decisions.get(k) != DROP),
    )


def fix_pair(job: Job, settings: Settings, opts: FixOptions) -> FixOutcome:
    """Merge the template into the env file (or create it), with a backup first."""
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
            if not os.path.lexists(job.env):
                created, _generated = _generate(settings, loaded.template.doc.text)
                atomic.atomic_write(job.env, created, mode=0o600)
                recorded = _record(job, loaded, bdir)
                notice = f"{job.env}: created from {job.template} (mode 0600); review it"
                notice += f"\n{recorded}" if recorded else ""
                return FixOutcome(
                    result._replace(changed=True, notice=notice, fixed=FixActions(created=True)),
                    "",
                    None,
                )
    targets.check_writable_target(job.env, bdir)
    from envsync_hook.merge import merged

    with locking.env_lock(job.env):
        etext = reading.read_env(job.env)  # (no symlink followed out of its folder, even now)
        edoc = parse(etext)
        _refuse_syntax(str(job.env), edoc)
        env, c, loaded = _compare(job, loaded, edoc, settings, bdir)
        text, new_doc = merged(loaded.template, env, c, job.template.name)
        new, generated = _generate(settings, text)
        gen_note = _generate_note(job, settings, generated)
        if generated:  # (fresh secrets went in: the findings that remain are the final text's)
            new_doc = parse(new)
        del text
        changed = new != etext
        findings = tuple(c.findings)  # (sorted by compare)
        if generated:  # a published default that was just replaced is no longer one
            fresh_keys = set(generated)
            findings = tuple(
                f for f in findings if not (f.code == "ENV013" and f.key in fresh_keys)
            )
        result = _with_base(
            PairResult(
                loaded.template.path,
                str(job.env),
                findings,
                c.keys,
                changed=changed,
            ),
            loaded,
        )
        diff = _diff(settings, job.env, etext, new) if changed and opts.diff else ""
        if not changed:
            # (in sync: the record says what with)
            recorded = (
                ""
                if opts.dry_run or opts.diff
                else _record(job, loaded, bdir, held_defaults(env, c))
            )
            notice = "\n".join(n for n in (gen_note, recorded) if n)
            return FixOutcome(
                result._replace(
                    duration=time.perf_counter() - started, notice=notice, fixed=FixActions()
                ),
                diff,
                None,
            )
        summary = _summary_notice(c)
        if generated:
            from envsync_hook.generate import shared_note

            fresh = f"fresh random value(s) for {', '.join(generated)}"
            fresh += shared_note(new, generated)
            summary = f"{summary}; {fresh}" if summary else fresh
        if not opts.force:
            targets.refuse_read_only(job.env)  # (in a dry run too: it says what fix would do)
        if opts.dry_run or opts.diff:
            notice = f"{job.env}: would change (dry run, nothing written)"
            notice += f"\n{gen_note}" if gen_note else ""
            actions = fix_actions(loaded.template, env, c, settings, "", True)
            # the findings the merge would leave, at their lines in the file as it stands
            after, _keys = _remaining(job, loaded, c, new_doc, settings, bool(generated))
            remain = {(f.code, f.key) for f in after}
            return FixOutcome(
                result._replace(
                    findings=tuple(f for f in findings if (f.code, f.key) in remain),
                    duration=time.perf_counter() - started,
                    notice=notice,
                    fixed=actions,
                ),
                diff,
                None,
            )
        actions = fix_actions(loaded.template, env, c, settings, "", False)
        # the old text's parse is not needed past here: its memory goes before the write (the
        # merged text's parse is kept for the findings that remain)
        result = result._replace(keys=())
        held = held_defaults(env, c)
        del edoc, env, findings
        # the backup is the text merged from, and the env file is replaced only if it still
        # holds it: an edit made meanwhile by another program (which does not take our lock)
        # is refused, not silently reverted
        backup = backups.replace_with_backup(job.env, new, bdir, expect=etext)
        del etext
        recorded = _record(job, loaded, bdir, held)  # after the replace: what it syncs with
    actions = actions._replace(backup=str(backup))
    # the findings that remain are those of the merged text (parsed once, by the merge's own
    # check), not the ones fix just resolved
    after, after_keys = _remaining(job, loaded, c, new_doc, settings, bool(generated))
    detail = f"; {summary}" if summary else ""
    notice = f"{job.env}: updated from {job.template} (backup: {backup}){detail}"
    notice += f"\n{recorded}" if recorded else ""
    notice += f"\n{gen_note}" if gen_note else ""
    return FixOutcome(
        result._replace(
            findings=tuple(after),
            keys=after_keys,
            duration=time.perf_counter() - started,
            notice=notice,
            fixed=actions,
        ),
        diff,
        backup,
    )
