"""Command line: ``envsync check | fix | restore | schema``. The only module that prints."""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from envsync_hook import __version__
from envsync_hook.errors import EnvsyncError
from envsync_hook.findings import FAIL_ON_CHOICES, SEVERITIES, PairResult
from envsync_hook.reporters import FORMATS as REPORTER_FORMATS
from envsync_hook.settings import Settings, known_rule

if TYPE_CHECKING:
    from envsync_hook.runner import Job

FORMATS = (*REPORTER_FORMATS, "auto")


def _add_pairing(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "templates",
        nargs="*",
        metavar="TEMPLATE",
        help="template(s) to compare with their env files (default: .env.example)",
    )
    p.add_argument("--env", metavar="PATH", help="the env file (one template only)")
    p.add_argument(
        "--also",
        action="append",
        default=[],
        metavar="GLOB",
        help="further templates of the same set ('**' recurses); repeatable",
    )
    base = p.add_mutually_exclusive_group()
    base.add_argument("--base", metavar="PATH", help="the previous template (three-way)")
    base.add_argument(
        "--base-ref", metavar="REV", help="read the previous template from git revision REV"
    )
    p.add_argument("--format", choices=FORMATS, default=None, help="report format (default: auto)")
    p.add_argument("--output", metavar="FILE", help="write the report to FILE instead of stdout")
    p.add_argument("--junit", metavar="FILE", help="also write a JUnit XML report")
    p.add_argument("--json", metavar="FILE", help="also write a JSON report")
    p.add_argument("--sarif", metavar="FILE", help="also write a SARIF 2.1.0 report")
    p.add_argument(
        "--fail-on",
        choices=FAIL_ON_CHOICES,
        default=None,
        help="lowest severity that fails the run (default: error)",
    )
    p.add_argument(
        "--if-missing",
        choices=("fail", "skip"),
        default=None,
        help="what to do when a pair's env file does not exist (default: fail)",
    )
    p.add_argument(
        "--show-values",
        action="store_true",
        default=None,
        help="print values in messages (secret-looking keys and URL passwords stay masked)",
    )
    p.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="KEY",
        help="never report this key (fnmatch pattern); repeatable",
    )
    p.add_argument(
        "--severity",
        action="append",
        default=[],
        metavar="RULE=LEVEL",
        help="override a rule's severity (rule: code or slug; level: error, warning, info, off)",
    )
    p.add_argument("--config", metavar="FILE", help="configuration file (TOML)")
    p.add_argument("--quiet", "-q", action="store_true", help="print no notices on stderr")
    p.add_argument(
        "--color", choices=("auto", "always", "never"), default="auto", help="colour text output"
    )
    p.add_argument(
        "--backup-dir",
        metavar="DIR",
        default=None,
        help="backup directory (default: env-backup/ beside the env file)",
    )


def _terminal_width() -> int:
    """``shutil.get_terminal_size().columns``: ``$COLUMNS``, else the terminal, else 80."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    stdout = sys.__stdout__
    if columns <= 0 and stdout is not None:
        try:
            columns = os.get_terminal_size(stdout.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class _HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, sized as argparse sizes it but without importing ``shutil``.

    argparse makes a formatter for every ``add_argument`` call, and the default one imports
    ``shutil`` (with ``bz2`` and ``lzma``) for its width: that import alone costs more start-up
    time than building the whole parser.
    """

    def __init__(
        self,
        prog: str,
        indent_increment: int = 2,
        max_help_position: int = 24,
        width: int | None = None,
        **kwargs: Any,
    ) -> None:
        if width is None:
            width = _terminal_width() - 2
        super().__init__(prog, indent_increment, max_help_position, width, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="envsync",
        description="Keep a .env in step with its .env.example across upgrades.",
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"envsync-hook {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    check = sub.add_parser(
        "check",
        help="report what the env file lacks, carries or changes",
        formatter_class=_HelpFormatter,
    )
    _add_pairing(check)

    fix = sub.add_parser(
        "fix",
        help="back up the env file, then merge the template into it",
        formatter_class=_HelpFormatter,
    )
    _add_pairing(fix)
    fix.add_argument("--dry-run", action="store_true", help="write nothing; say what would change")
    fix.add_argument(
        "--diff", action="store_true", help="print a unified diff (values masked); write nothing"
    )
    fix.add_argument(
        "--prune", action="store_true", default=None, help="drop keys no template defines"
    )
    fix.add_argument(
        "--take-template",
        action="append",
        default=[],
        metavar="KEY",
        help="take the template default for KEY (fnmatch pattern); repeatable",
    )
    fix.add_argument(
        "--keep-stale",
        action="store_true",
        default=None,
        help="keep old defaults the template changed (three-way)",
    )

    restore = sub.add_parser(
        "restore", help="roll the env file back to a backup", formatter_class=_HelpFormatter
    )
    restore.add_argument("env", nargs="?", default=".env", metavar="ENV")
    restore.add_argument("--from", dest="source", metavar="BACKUP", help="the backup to restore")
    restore.add_argument("--list", action="store_true", help="list backups, newest first")
    restore.add_argument("--backup-dir", metavar="DIR", default=None)

    sub.add_parser(
        "schema", help="print the JSON Schema of the json report", formatter_class=_HelpFormatter
    )
    return parser


class _Out:
    """Where output goes: stdout for reports, stderr for notices and errors."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet

    def notice(self, msg: str) -> None:
        if not self.quiet and msg:
            print(msg, file=sys.stderr)

    @staticmethod
    def error(msg: str) -> None:
        print(f"envsync: error: {msg}", file=sys.stderr)


def _use_color(choice: str, stream: TextIO) -> bool:
    if choice == "always":
        return True
    if choice == "never" or os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _parse_severities(items: Sequence[str]) -> tuple[tuple[str, str], ...]:
    out = []
    for item in items:
        name, sep, level = item.partition("=")
        name, level = name.strip(), level.strip().lower()
        if not sep or not known_rule(name) or level not in (*SEVERITIES, "off"):
            raise EnvsyncError(
                f"--severity {item!r}: expected RULE=LEVEL with a rule code or slug "
                f"and a level of error, warning, info or off"
            )
        out.append((name, level))
    return tuple(out)


def _build_jobs(args: argparse.Namespace, cfg: dict[str, object]) -> list[Job]:
    """The pairs to process. Command-line options override the configuration file: templates
    named on the command line are processed (taking env, also, base and backup dir from a
    configured pair of the same template, if any); ``--env``, ``--also``, ``--base``/``--base-ref``
    and ``--backup-dir`` override a pair's settings, which override the file's top-level ones."""
    from envsync_hook.pairing import env_for, expand_also, same_file
    from envsync_hook.runner import Job

    if args.env and len(args.templates) > 1:
        raise EnvsyncError("--env goes with one template; several were given")
    # the configured pairs: ``pairs``, else ``templates`` (default .env.example) with ``env``
    configured: list[dict[str, object]] = [dict(p) for p in cfg.get("pairs") or ()]  # type: ignore[attr-defined]
    if not configured:
        names = cfg.get("templates") or (".env.example",)
        configured = [{"template": str(n), "env": cfg.get("env")} for n in names]  # type: ignore[attr-defined]
    selected: list[tuple[Path, dict[str, object]]] = []
    if args.templates:
        for name in args.templates:
            t = Path(name)
            match = next((p for p in configured if same_file(Path(str(p["template"])), t)), {})
            selected.append((t, match))
    else:
        selected = [(Path(str(p["template"])), p) for p in configured]
    if args.env and len(selected) > 1:
        raise EnvsyncError("--env goes with one template; several were given")

    def setting(pair: dict[str, object], key: str) -> object:
        return pair.get(key) or cfg.get(key)

    if args.base or args.base_ref:
        cli_base: tuple[object, object] | None = (args.base, args.base_ref)
    else:
        cli_base = None
    # files named on the command line may lead anywhere; found or configured ones may not
    named = frozenset(os.path.abspath(n) for n in (*args.templates, args.env, args.base) if n)
    jobs: list[Job] = []
    seen: set[str] = set()
    set_paths: list[Path] = []
    for t, pair in selected:
        if not t.exists():
            raise EnvsyncError(f"cannot read template {t}: no such file")
        if os.path.abspath(t) in seen:
            continue  # the same template named twice is one pair
        env_name = args.env or pair.get("env")
        env = Path(str(env_name)) if env_name else env_for(t)
        patterns = list(args.also) or [str(a) for a in setting(pair, "also") or ()]  # type: ignore[attr-defined]
        also_paths = expand_also(patterns)
        if cli_base is not None:
            base, base_ref = cli_base
        elif pair.get("base") or pair.get("base_ref"):
            base, base_ref = pair.get("base"), pair.get("base_ref")
        else:
            base, base_ref = cfg.get("base"), cfg.get("base_ref")
        backup_dir = args.backup_dir or setting(pair, "backup_dir")
        jobs.append(
            Job(
                t,
                env,
                tuple(p for p in also_paths if not same_file(p, t)),
                Path(str(base)) if base else None,
                str(base_ref) if base_ref else None,
                backup_dir=str(backup_dir) if backup_dir else None,
                explicit=named,
            )
        )
        seen.add(os.path.abspath(t))
        set_paths.extend(p for p in also_paths if p not in set_paths)
    # each template of the set whose env file exists is its own pair too
    templates = tuple(t for t, _ in selected)
    backup_dir = args.backup_dir or cfg.get("backup_dir")
    for p in set_paths:
        if os.path.abspath(p) in seen:
            continue
        try:
            env = env_for(p)
        except EnvsyncError:
            continue
        if not env.exists():
            continue
        set_rest = tuple(q for q in set_paths if not same_file(q, p)) + templates
        jobs.append(
            Job(
                p,
                env,
                set_rest,
                optional=True,
                backup_dir=str(backup_dir) if backup_dir else None,
                explicit=named,
            )
        )
        seen.add(os.path.abspath(p))
    return jobs


def _load_config(args: argparse.Namespace) -> dict[str, object]:
    """Configuration from ``--config``, ``.envsync.toml`` or ``[tool.envsync]`` ({} if none)."""
    from envsync_hook.config import find_and_load

    return find_and_load(args.config)


def _settings(args: argparse.Namespace, cfg: dict[str, object]) -> Settings:
    """One Settings value: command-line options first, then the configuration file.

    Severity overrides from ``--severity`` come first (the first match wins); ignored keys add
    up; secret patterns from the file add to the built-in ones (never fewer keys masked)."""
    from typing import cast

    from envsync_hook.secrets import DEFAULT_SECRET_PATTERNS

    def flag(name: str) -> bool:
        value = getattr(args, name, None)
        return bool(value if value is not None else cfg.get(name, False))

    def items(name: str) -> tuple[str, ...]:
        return tuple(str(v) for v in cast("Sequence[object]", cfg.get(name) or ()))

    cfg_sev = tuple(cast("Sequence[tuple[str, str]]", cfg.get("severity") or ()))
    return Settings(
        severities=_parse_severities(args.severity) + cfg_sev,
        ignore=tuple(args.ignore) + items("ignore"),
        secret_patterns=DEFAULT_SECRET_PATTERNS
        + tuple(p for p in items("secret_patterns") if p not in DEFAULT_SECRET_PATTERNS),
        show_values=flag("show_values"),
        fail_on=str(args.fail_on or cfg.get("fail_on") or "error"),
        keep_stale=flag("keep_stale"),
        prune=flag("prune"),
        take_template=tuple(getattr(args, "take_template", [])),
    )


def _write_file(path: str, text: str) -> None:
    from envsync_hook import files

    files.write_report(path, text)


def _check_report_paths(args: argparse.Namespace) -> None:
    """Refuse a report path that is a symlink (or hard link) before anything is written."""
    from envsync_hook import files

    for path in (args.output, args.junit, args.json, args.sarif):
        if path:
            files.check_report_path(path)


def _report(
    args: argparse.Namespace, results: list[PairResult], settings: Settings, out: _Out
) -> None:
    from envsync_hook.reporters import ReportOptions, get_reporter

    fmt = args.format or "auto"
    if fmt == "auto":
        fmt = "github" if os.environ.get("GITHUB_ACTIONS") == "true" else "text"
    stream = sys.stdout
    color = False if args.output else _use_color(args.color, stream)
    options = ReportOptions(settings.fail_on, color, __version__, args.command)
    text = get_reporter(fmt)(results, options)
    if args.output:
        _write_file(args.output, text)
    else:
        stream.write(text)
        stream.flush()
    plain = options._replace(color=False)
    for path, name in ((args.junit, "junit"), (args.json, "json"), (args.sarif, "sarif")):
        if path:
            _write_file(path, get_reporter(name)(results, plain))
    summary_path = os.environ.get("GITHUB_STEP_SUMMARY")
    if fmt == "github" and summary_path:
        from envsync_hook.reporters import step_summary

        try:
            with open(summary_path, "a", encoding="utf-8") as f:
                f.write(step_summary(results, plain))
        except OSError as e:
            out.notice(f"envsync: could not append to GITHUB_STEP_SUMMARY: {e.strerror or e}")


def _exit_code(results: list[PairResult], settings: Settings) -> int:
    failed = any(
        f.at_or_above(settings.fail_on) for r in results if not r.skipped for f in r.findings
    )
    changed = any(r.changed for r in results)
    return 1 if failed or changed else 0


def _run_pairs(args: argparse.Namespace, out: _Out) -> int:
    from envsync_hook import runner

    cfg = _load_config(args)
    settings = _settings(args, cfg)
    if_missing = args.if_missing or str(cfg.get("if_missing") or "fail")
    configured_dir = args.backup_dir or cfg.get("backup_dir")
    backup_dir = str(configured_dir) if configured_dir else None
    jobs = _build_jobs(args, cfg)
    _check_report_paths(args)
    results: list[PairResult] = []
    if args.command == "check":
        for job in jobs:
            results.append(runner.check_pair(job, settings, if_missing, backup_dir))
    else:
        opts = runner.FixOptions(args.dry_run, args.diff, backup_dir, if_missing)
        # all or nothing: with several pairs, every one is validated and merged (dry run)
        # before any pair writes, so a refusal in the last leaves the first untouched
        if len(jobs) > 1 and not opts.dry_run:
            rehearsal = opts._replace(dry_run=True, diff=False)
            for job in jobs:
                runner.fix_pair(job, settings, rehearsal)
        for job in jobs:
            outcome = runner.fix_pair(job, settings, opts)
            results.append(outcome.result)
            if outcome.diff:
                sys.stdout.write(outcome.diff)
    _report(args, results, settings, out)
    for r in results:
        out.notice(r.notice)
    return _exit_code(results, settings)


def _restore(args: argparse.Namespace, out: _Out) -> int:
    from envsync_hook import files

    env = Path(args.env)
    bdir = files.backup_dir_for(env, args.backup_dir)
    files.check_confined(env, bdir)  # (before listing: a planted folder symlink leads out)
    backups = files.list_backups(env, bdir) if bdir.is_dir() else []
    if args.list:
        if not backups:
            out.notice(f"no backups of {env} in {bdir}")
        for b in backups:
            print(b)
        return 0
    if args.source:
        source = Path(args.source)
    elif backups:
        source = backups[0]
    else:
        raise EnvsyncError(f"no backups of {env} in {bdir}")
    # refuse unreadable, non-UTF-8 or NUL-holding backups, and a symlink (never followed)
    files.read_backup(source)
    made = files.restore(env, source, bdir)
    extra = f" (the previous {env} is in {made})" if made else ""
    out.notice(f"{env}: restored from {source}{extra}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    # A run makes a few hundred thousand small objects, none of them in a reference cycle,
    # and ends: the cycle collector would only walk them again and again (a fifth of the
    # time of a 100,000-key check). It is switched back on for callers that keep running.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _main(argv)
    finally:
        if collecting:
            gc.enable()


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    out = _Out(getattr(args, "quiet", False))
    try:
        if args.command == "schema":
            from envsync_hook.reporters import json_schema

            sys.stdout.write(json_schema())
            return 0
        if args.command == "restore":
            return _restore(args, out)
        return _run_pairs(args, out)
    except EnvsyncError as e:
        out.error(str(e))
        return 2
    except KeyboardInterrupt:
        out.error("interrupted")
        return 130
