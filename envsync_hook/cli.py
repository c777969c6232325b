"""Command line: ``envsync check | fix | restore | schema``. The only module that prints."""

from __future__ import annotations

import argparse
import contextlib  # (already imported by the interpreter's start-up)
import gc
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from envsync_hook import __version__
from envsync_hook.errors import EnvsyncError
from envsync_hook.escaping import escape, safe_result
from envsync_hook.findings import FAIL_ON_CHOICES, NOTICE_BREAK, SEVERITIES, PairResult
from envsync_hook.lean import TYPE_CHECKING, NamedTuple
from envsync_hook.reporters import FORMATS as REPORTER_FORMATS
from envsync_hook.settings import Settings, known_rule

if TYPE_CHECKING:
    from typing import Any, NoReturn, TextIO

    from envsync_hook.files.backups import BackupInfo
    from envsync_hook.reporters import ReportOptions
    from envsync_hook.runner import Job

FORMATS = (*REPORTER_FORMATS, "auto")


def _add_pairing(p: argparse.ArgumentParser) -> None:
    """The options check and fix share, in the order ``--help`` lists them."""
    _add_pair_options(p)
    _add_report_options(p)
    _add_run_options(p)


def _add_pair_options(p: argparse.ArgumentParser) -> None:
    """Which files are compared: the templates, their env file, their set, the base."""
    p.add_argument(
        "templates",
        nargs="*",
        metavar="TEMPLATE",
        help="template(s) to compare with their env files (default: .env.example)",
    )
    p.add_argument(
        "--env",
        metavar="PATH",
        help="the env file (one template only); '-' reads it from standard input (check, "
        "fix --dry-run/--diff)",
    )
    p.add_argument(
        "--also",
        action="append",
        default=[],
        metavar="GLOB",
        help="further templates of the same set, relative to the template's folder "
        "('**' recurses); repeatable",
    )
    p.add_argument(
        "--no-discover",
        action="store_true",
        default=None,
        help="do not find the template set from the compose files beside the template",
    )
    p.add_argument(
        "--upgrade-hook",
        action="store_true",
        help="run as the post-checkout/post-merge hook: find the pairs, do nothing unless a "
        "template changed, take the commit before as the base",
    )
    base = p.add_mutually_exclusive_group()
    base.add_argument("--base", metavar="PATH", help="the previous template (three-way)")
    base.add_argument(
        "--base-ref", metavar="REV", help="read the previous template from git revision REV"
    )
    base.add_argument(
        "--no-base",
        action="store_true",
        help="two-way: use no base (no sync record, no git history)",
    )


def _add_report_options(p: argparse.ArgumentParser) -> None:
    """What is reported, where, and what fails the run."""
    p.add_argument("--format", choices=FORMATS, default=None, help="report format (default: auto)")
    p.add_argument(
        "--output", metavar="FILE", help="write the report to FILE instead of stdout ('-': stdout)"
    )
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


def _add_run_options(p: argparse.ArgumentParser) -> None:
    """The configuration file, how much is said, colour, and where backups go."""
    p.add_argument("--config", metavar="FILE", help="configuration file (TOML)")
    loud = p.add_mutually_exclusive_group()
    loud.add_argument(
        "--quiet",
        "-q",
        action="store_true",
        help="text report: only errors and the summary line; no notices on stderr",
    )
    loud.add_argument(
        "--verbose",
        "-v",
        action="store_true",
        help="text report: every finding, one a line (the default groups them and counts info)",
    )
    p.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="colour text output (auto: on a terminal, or with FORCE_COLOR / CLICOLOR_FORCE; "
        "never with NO_COLOR)",
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

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        """Descriptions and epilogs: paragraphs are filled; indented lines (examples, the exit
        code table) are kept as written."""
        out = []
        for block in text.strip("\n").split("\n\n"):
            if all(line.startswith("  ") for line in block.splitlines()[1:]) and "\n  " in block:
                out.append("\n".join(indent + line for line in block.splitlines()))
            else:
                out.append(super()._fill_text(block, width, indent))
        return "\n\n".join(out)


class _Parser(argparse.ArgumentParser):
    """argparse's parser, whose usage errors suggest the nearest option or command."""

    def error(self, message: str) -> NoReturn:
        hint = _suggestion(self, message)
        super().error(message + hint)


def _suggestion(parser: argparse.ArgumentParser, message: str) -> str:
    """`` (did you mean --verbose?)`` for an unknown option or command; empty when none is near.

    difflib is imported here only: the error path, never a normal run's start-up.
    """
    import difflib
    import re

    unknown = re.match(r"unrecognized arguments: (.*)", message)
    choice = re.match(r"argument (\S+): invalid choice: '([^']*)'", message)
    if unknown:
        # only the top parser says this, and it may hold just the command in use: look
        # through every command's options
        parser = build_parser()
        words = [w for w in unknown.group(1).split() if w.startswith("-")]
        known = _option_strings(parser)
    elif choice:
        words = [choice.group(2)]
        known = [
            c
            for a in parser._actions
            if choice.group(1) in (a.dest, "/".join(a.option_strings), a.metavar)
            or isinstance(a, argparse._SubParsersAction)
            for c in (a.choices or ())
        ]
    else:
        return ""
    if unknown:
        # an option of another command, spelt right (``check --prune``): say whose it is
        owners = _option_owners(parser)
        for word in words:
            commands = owners.get(word.split("=", 1)[0])
            if commands:
                return (
                    f" ({word.split('=', 1)[0]} is an option of envsync {' and '.join(commands)})"
                )
    hints = []
    for word in words:
        near = difflib.get_close_matches(word.split("=", 1)[0], known, n=1, cutoff=0.6)
        if near:
            hints.append((word, near[0]))
    if len(hints) == 1:
        return f" (did you mean {hints[0][1]}?)"
    if hints:
        return " (did you mean: " + ", ".join(f"{a} -> {b}" for a, b in hints) + "?)"
    return ""


def _option_owners(parser: argparse.ArgumentParser) -> dict[str, list[str]]:
    """Each long option of a subcommand -> the subcommands that take it."""
    out: dict[str, list[str]] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                for o in _option_strings(sub):
                    if name not in out.setdefault(o, []):
                        out[o].append(name)
    return out


def _option_strings(parser: argparse.ArgumentParser) -> list[str]:
    """Every option of ``parser`` and of its subcommands (long ones first)."""
    out: list[str] = []
    for action in parser._actions:
        out.extend(o for o in action.option_strings if o.startswith("--"))
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                out.extend(o for o in _option_strings(sub) if o not in out)
    return out


_EXIT_CODES = """exit codes:
  0  nothing at or above --fail-on (default: error), and nothing changed
  1  findings at or above --fail-on, or fix changed (or would change) the env file
  2  usage or configuration error, an unreadable file, or a refusal (nothing written)"""

_CHECK_DESCRIPTION = """\
Compare each env file with its template (.env.example) the way Docker Compose reads them, and
report what the env file lacks (ENV001), carries that no template defines (ENV002), changes
(ENV003), and, given the previous template with --base or --base-ref, which old defaults are
stale (ENV004) and which of your changes conflict with a new default (ENV005). Nothing is
written. The text report groups the findings by code and ends with the commands that would
resolve them; -v lists every finding; values are never printed unless --show-values."""

_CHECK_EPILOG = f"""examples:
  envsync check                                 # .env.example against .env
  envsync check docker/.env.example --base old.env.example
  envsync check --also 'envs/**/*.env.example' --format json --output report.json

{_EXIT_CODES}

`envsync rules` lists the finding codes; `envsync explain ENV004` explains one."""

_FIX_DESCRIPTION = """\
Back the env file up (env-backup/.env.backup_YYYYMMDD_HHMMSS), then merge the template into it
in place: the template is the structure, every value you set survives byte for byte, missing
keys arrive with their defaults, keys no template defines are kept at the end of the file, and
(with a base) stale defaults take the new default. A second run changes nothing. Fix says what
it did and reports the findings that remain; it refuses (exit 2, nothing written) when Docker
Compose could not read either file."""

_FIX_EPILOG = f"""examples:
  envsync fix --dry-run                         # say what would change, write nothing
  envsync fix --diff                            # show the change as a diff (values masked)
  envsync fix docker/.env.example --base-ref HEAD~1 --take-template 'NGINX_*'

{_EXIT_CODES}

`envsync restore` rolls the env file back to the backup fix made."""

_RESTORE_DESCRIPTION = """\
Roll an env file back to one of its backups (by default the newest), after backing up the
file it replaces; or list the backups."""

_RESTORE_EPILOG = """examples:
  envsync restore --list                        # backups of ./.env, newest first
  envsync restore                               # restore the newest backup of ./.env
  envsync restore docker/.env --from docker/env-backup/.env.backup_20260512_101500

exit codes:
  0  restored, or listed
  2  no backup to restore, an unreadable backup, or a usage error (nothing written)"""

_RULES_EPILOG = """examples:
  envsync rules                                 # every code, slug and default severity
  envsync rules ENV004                          # the same as: envsync explain ENV004

exit codes:
  0  printed
  2  no such rule"""

_EXPLAIN_EPILOG = """examples:
  envsync explain ENV004
  envsync explain stale-default

exit codes:
  0  printed
  2  no such rule"""


#: the subparsers, by command name (``schema``, ``rules`` and ``explain`` share one adder)
_COMMANDS = ("check", "fix", "restore", "schema", "rules", "explain")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of ``envsync``: the global options, then one subparser a command.

    With ``command`` (the first word of the command line, when it names a command), only that
    command's subparser is built: the others are never consulted then, and building all of
    them is a twentieth of a plain check's time (about 6 ms).
    """
    parser = _Parser(
        prog="envsync",
        description="Keep a .env in step with its .env.example across upgrades: check reports, "
        "fix merges (with a backup), restore rolls back.",
        epilog="`envsync COMMAND --help` describes a command, with examples and exit codes.",
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"envsync-hook {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    adders = {"check": _add_check, "fix": _add_fix, "restore": _add_restore}
    for adder in (_add_check, _add_fix, _add_restore, _add_info_commands):
        if command not in _COMMANDS or adders.get(command, _add_info_commands) is adder:
            adder(sub)
    return parser


def _add_check(sub: argparse._SubParsersAction[_Parser]) -> None:
    """``envsync check``: the shared options only."""
    check = sub.add_parser(
        "check",
        help="report what the env file lacks, carries or changes",
        description=_CHECK_DESCRIPTION,
        epilog=_CHECK_EPILOG,
        formatter_class=_HelpFormatter,
    )
    _add_pairing(check)


def _add_fix(sub: argparse._SubParsersAction[_Parser]) -> None:
    """``envsync fix``: the shared options and what to change."""
    fix = sub.add_parser(
        "fix",
        help="back up the env file, then merge the template into it",
        description=_FIX_DESCRIPTION,
        epilog=_FIX_EPILOG,
        formatter_class=_HelpFormatter,
    )
    _add_pairing(fix)
    fix.add_argument(
        "--dry-run", action="store_true", help="write nothing; say what fix would change"
    )
    fix.add_argument(
        "--diff", action="store_true", help="print a unified diff (values masked); write nothing"
    )
    fix.add_argument(
        "--prune",
        action="store_true",
        default=None,
        help="drop keys no template defines (the backup keeps them)",
    )
    fix.add_argument(
        "--take-template",
        action="append",
        default=[],
        metavar="KEY",
        help="take the template default for KEY even though you changed it (fnmatch pattern); "
        "repeatable",
    )
    fix.add_argument(
        "--generate-secrets",
        action="append",
        default=[],
        metavar="KEY",
        help="fill KEY (fnmatch pattern) with a fresh random value of the same shape as its "
        "current one, from Python's secrets module (a backup first); repeatable. Keys that "
        "held one value get one new value; a secret-looking key not chosen that holds a "
        "chosen key's value is refused (choose it too); a wildcard picks secret-looking keys "
        "only",
    )
    fix.add_argument(
        "--keep-stale",
        action="store_true",
        default=None,
        help="keep old defaults the template changed (three-way; default: take the new one)",
    )
    fix.add_argument(
        "--force",
        action="store_true",
        help="change an env file even if it is read-only for its owner (refused by default)",
    )


def _add_restore(sub: argparse._SubParsersAction[_Parser]) -> None:
    """``envsync restore``: which env file, which backup, or the list."""
    restore = sub.add_parser(
        "restore",
        help="roll the env file back to a backup",
        description=_RESTORE_DESCRIPTION,
        epilog=_RESTORE_EPILOG,
        formatter_class=_HelpFormatter,
    )
    restore.add_argument(
        "env", nargs="?", default=".env", metavar="ENV", help="the env file (default: .env)"
    )
    restore.add_argument(
        "--from",
        dest="source",
        metavar="BACKUP",
        help="the backup to restore: one of ENV's, in its backup directory or its folder "
        "(default: the newest one not made by restore; after a restore, the one before the "
        "backup it used)",
    )
    restore.add_argument(
        "--list",
        action="store_true",
        help="list the env file's backups, newest first, with time, size and what made each",
    )
    restore.add_argument(
        "--backup-dir",
        metavar="DIR",
        default=None,
        help="backup directory (default: env-backup/ beside the env file)",
    )
    restore.add_argument(
        "--force",
        action="store_true",
        help="restore even if the env file is read-only for its owner (refused by default)",
    )


def _add_info_commands(sub: argparse._SubParsersAction[_Parser]) -> None:
    """``envsync schema``, ``rules`` and ``explain``: print what envsync knows, read nothing."""
    sub.add_parser(
        "schema",
        help="print the JSON Schema of the json report",
        description="Print the JSON Schema (draft 2020-12) that every `--format json` report "
        "validates against.",
        epilog="examples:\n  envsync schema > envsync-report.schema.json\n\n"
        "exit codes:\n  0  printed",
        formatter_class=_HelpFormatter,
    )
    rules = sub.add_parser(
        "rules",
        help="list the finding codes (or explain one)",
        description="List every finding code with its slug, default severity and meaning; "
        "with a CODE, explain that one (as `envsync explain`).",
        epilog=_RULES_EPILOG,
        formatter_class=_HelpFormatter,
    )
    rules.add_argument(
        "rule", nargs="?", metavar="CODE", help="a code (ENV004) or slug (stale-default)"
    )
    explain = sub.add_parser(
        "explain",
        help="explain one finding code, with an example",
        description="Explain one finding code: what it means, why it matters, an example "
        "template and .env with the finding they produce, and what to do about it.",
        epilog=_EXPLAIN_EPILOG,
        formatter_class=_HelpFormatter,
    )
    explain.add_argument("rule", metavar="CODE", help="a code (ENV004) or slug (stale-default)")


class _Out:
    """Where output goes: stdout for reports, stderr for notices and errors."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet

    def notice(self, msg: str) -> None:
        """``msg`` on stderr, each of its lines (a pair's notice may hold several, joined by
        NOTICE_BREAK) escaped on its own: a newline in a path cannot start a line. Under
        ``--quiet`` only the warnings."""
        for line in msg.split(NOTICE_BREAK):
            if line and (not self.quiet or line.startswith(_WARNING)):
                print(escape(line), file=sys.stderr)

    @staticmethod
    def error(msg: str) -> None:
        # one line, whatever a path in it holds (escape: no line break, no workflow command)
        print(f"envsync: error: {escape(msg)}", file=sys.stderr)


def _use_color(choice: str, stream: TextIO) -> bool:
    """``--color always``/``never`` decide. ``auto``: never with ``NO_COLOR`` (no-color.org:
    set and not empty; it wins over the rest); always with ``FORCE_COLOR`` (force-color.org: set
    and not empty) or ``CLICOLOR_FORCE`` (set and not ``0``); never with ``TERM=dumb``; else
    only on a terminal."""
    if choice == "always":
        return True
    if choice == "never" or os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR") or os.environ.get("CLICOLOR_FORCE", "0") not in ("", "0"):
        return True
    if os.environ.get("TERM") == "dumb":
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


#: a notice that starts with this is a warning: printed even under --quiet
_WARNING = "envsync: warning: "


class _Context(NamedTuple):
    """What every pair of a run shares while its jobs are built."""

    args: argparse.Namespace
    cfg: dict[str, object]
    #: the base the command line names (base.named_base)
    base: tuple[object, object] | None
    #: the env file's text and name when it comes from a pipe (_piped_env)
    env_text: str | None
    env_shown: str | None
    #: files named on the command line (they may lead anywhere)
    named: frozenset[str]
    notices: list[str]


def _build_jobs(
    args: argparse.Namespace, cfg: dict[str, object], notices: list[str] | None = None
) -> list[Job]:
    """The pairs to process. Command-line options override the configuration file: templates
    named on the command line are processed (taking env, also, base and backup dir from a
    configured pair of the same template, if any); ``--env``, ``--also``, ``--base``/``--base-ref``
    and ``--backup-dir`` override a pair's settings, which override the file's top-level ones.
    Without ``--also`` (or ``also`` in the configuration), a template's set is found from the
    compose files beside it. ``notices`` collects what the operator should read about that."""
    from envsync_hook.base import named_base
    from envsync_hook.pairing import same_file

    if args.env and len(args.templates) > 1:
        raise EnvsyncError("--env goes with one template; several were given")
    env_text, env_shown = _piped_env(args)
    selected = _selected_templates(args, cfg)
    if args.env and len(selected) > 1:
        raise EnvsyncError("--env goes with one template; several were given")
    if args.base_ref is not None:
        from envsync_hook.base import valid_rev

        valid_rev(args.base_ref)  # before anything is read or written
    base = named_base(args.base, args.base_ref, args.no_base)
    notices = notices if notices is not None else []
    ctx = _Context(args, cfg, base, env_text, env_shown, _named_paths(args, cfg), notices)
    jobs: list[Job] = []
    seen: set[str] = set()
    set_paths: list[Path] = []
    # shallowest first: a set's primary (its compose files beside it) before the members in
    # its subfolders, whichever order pre-commit or the operator named them in
    selected.sort(key=lambda item: len(Path(os.path.normpath(item[0])).parts))
    for t, pair in selected:
        if not t.exists():
            raise EnvsyncError(f"cannot read template {t}: no such file")
        if os.path.abspath(t) in seen:
            continue  # the same template named twice is one pair
        member = any(same_file(t, p) for p in set_paths)
        job, also_paths = _pair_job(ctx, t, pair, set_paths if member else None, jobs)
        jobs.append(job)
        seen.add(os.path.abspath(t))
        if not member:
            set_paths.extend(p for p in also_paths if p not in set_paths)
    jobs.extend(_member_jobs(ctx, set_paths, seen, tuple(t for t, _ in selected)))
    return jobs


def _selected_templates(
    args: argparse.Namespace, cfg: dict[str, object]
) -> list[tuple[Path, dict[str, object]]]:
    """The templates of the run, each with its configured pair (empty when none): those an
    upgrade-hook run found, else those named on the command line, else the configured ones
    (``pairs``, else ``templates``, default ``.env.example``, with the top-level ``env``)."""
    from envsync_hook.pairing import same_file

    configured: list[dict[str, object]] = [dict(p) for p in cfg.get("pairs") or ()]  # type: ignore[attr-defined]
    if not configured:
        names = cfg.get("templates") or (".env.example",)
        configured = [{"template": str(n), "env": cfg.get("env")} for n in names]  # type: ignore[attr-defined]
    if getattr(args, "found_templates", None):
        # an upgrade-hook run found these (tracked templates whose env file exists)
        return [(Path(name), {}) for name in args.found_templates]
    if args.templates:
        selected: list[tuple[Path, dict[str, object]]] = []
        for name in args.templates:
            t = Path(name)
            match = next((p for p in configured if same_file(Path(str(p["template"])), t)), {})
            selected.append((t, match))
        return selected
    return [(Path(str(p["template"])), p) for p in configured]


def _named_paths(args: argparse.Namespace, cfg: dict[str, object]) -> frozenset[str]:
    """Files named on the command line, which may lead anywhere (found or configured ones may
    not): templates, ``--env``, ``--base``, and with ``--config FILE`` every path it names."""
    named = frozenset(os.path.abspath(n) for n in (*args.templates, args.env, args.base) if n)
    if args.config:
        named |= frozenset(os.path.abspath(n) for n in _paths_of(cfg))
    return named


def _pair_job(
    ctx: _Context,
    t: Path,
    pair: dict[str, object],
    set_paths: list[Path] | None,
    jobs: list[Job],
) -> tuple[Job, list[Path]]:
    """The job of the template ``t`` (with its configured ``pair``), and the rest of its set.
    ``set_paths``: the sets found so far when ``t`` is a member of one (pre-commit passes every
    staged template), else None."""
    from envsync_hook import discovery
    from envsync_hook.base import option_base
    from envsync_hook.pairing import env_for, same_file
    from envsync_hook.runner import Job

    args, cfg = ctx.args, ctx.cfg
    env_name = ctx.env_shown or args.env or pair.get("env")
    env = Path(str(env_name)) if env_name else env_for(t)
    patterns = list(args.also) or [str(a) for a in _setting(ctx, pair, "also") or ()]  # type: ignore[attr-defined]
    base, base_ref = option_base(ctx.base, pair, cfg)
    if set_paths is not None and not patterns:
        # checked within the set it belongs to, so keys its other templates define are not extra
        also_paths = [q for q in set_paths if not same_file(q, t)] + [j.template for j in jobs]
    else:
        also_paths = discovery.set_of(
            t,
            patterns,
            globs_beside_template=bool(args.also),
            discover=not (args.no_discover or cfg.get("discover") is False),
            exclude=[Path(str(base))] if base else [],
            hint=not args.quiet,
            note=ctx.notices.append,
            warn=lambda msg: ctx.notices.append(_WARNING + msg),
        )
    backup_dir = args.backup_dir or _setting(ctx, pair, "backup_dir")
    job = Job(
        t,
        env,
        tuple(p for p in also_paths if not same_file(p, t)),
        Path(str(base)) if base else None,
        str(base_ref) if base_ref else None,
        backup_dir=str(backup_dir) if backup_dir else None,
        env_text=ctx.env_text,
        no_base=args.no_base,
        explicit=ctx.named | _named_by_operator(args, t, env, base, also_paths),
    )
    return job, also_paths


def _setting(ctx: _Context, pair: dict[str, object], key: str) -> object:
    """A pair's setting, else the configuration's top-level one."""
    return pair.get(key) or ctx.cfg.get(key)


def _member_jobs(
    ctx: _Context, set_paths: list[Path], seen: set[str], templates: tuple[Path, ...]
) -> list[Job]:
    """Each template of a set whose env file exists is its own pair too, checked with the rest
    of its set (optional: skipped, not a failure, should its env file be gone by then)."""
    from envsync_hook import discovery
    from envsync_hook.pairing import same_file
    from envsync_hook.runner import Job

    backup_dir = ctx.args.backup_dir or ctx.cfg.get("backup_dir")
    jobs: list[Job] = []
    for p, env in discovery.member_pairs(set_paths, seen):
        set_rest = tuple(q for q in set_paths if not same_file(q, p)) + templates
        jobs.append(
            Job(
                p,
                env,
                set_rest,
                optional=True,
                backup_dir=str(backup_dir) if backup_dir else None,
                no_base=ctx.args.no_base,
                explicit=ctx.named,
            )
        )
        seen.add(os.path.abspath(p))  # (member_pairs reads it as it goes)
    return jobs


def _hook_nothing_to_do(args: argparse.Namespace) -> bool:
    """Whether an upgrade-hook run can stop at once: it knows both commits, and no
    template-named file differs between them (configured templates with other names are
    looked at once the configuration is read). One ``git diff``, no configuration read."""
    from envsync_hook import discovery

    refs = discovery.hook_refs(os.environ)
    args.hook_refs = refs
    changed = discovery.changed_files(refs)
    args.hook_changed = changed
    if changed is None:
        return False
    from envsync_hook.config import may_apply

    return not discovery.templates_changed(changed) and not may_apply(args.config)


def _paths_of(cfg: dict[str, object]) -> list[str]:
    """Every file path a configuration names (top level and pairs; globs not expanded)."""
    from envsync_hook.lean import cast

    pairs = cast("Sequence[dict[str, object]]", cfg.get("pairs") or ())
    out: list[str] = []
    for table in [cfg, *pairs]:
        for key in ("template", "env", "base"):
            if table.get(key):
                out.append(str(table[key]))
        out.extend(str(t) for t in cast("Sequence[object]", table.get("templates") or ()))
    return out


def _named_by_operator(
    args: argparse.Namespace, template: Path, env: Path, base: object, also: list[Path]
) -> frozenset[str]:
    """The files of a pair the operator chose: the env file of a template named on the command
    line (it lies beside it), all of them with ``--config FILE`` (a file named on the command
    line), the matches of ``--also`` globs given on the command line."""
    chosen: list[object] = list(also) if args.also else []
    if any(os.path.abspath(t) == os.path.abspath(template) for t in args.templates):
        chosen.append(env)
    if args.config:
        chosen += [template, env, base, *also]
    return frozenset(os.path.abspath(str(p)) for p in chosen if p)


def _upgrade_jobs(
    args: argparse.Namespace, cfg: dict[str, object], notices: list[str]
) -> list[Job] | None:
    """The pairs of an upgrade-hook run (None: nothing to do).

    The pairs of the configuration (or the templates named on the command line), else every
    template git tracks whose env file exists, each with its set. Nothing to do when both
    commits are known and no template of those changed between them. Every job takes the
    commit before as its hook base (``Job.hook_ref``)."""
    from envsync_hook import discovery

    refs: discovery.HookRefs = args.hook_refs
    changed: list[str] | None = args.hook_changed
    configured = bool(cfg.get("pairs") or cfg.get("templates")) or bool(args.templates)
    if not configured:
        found = discovery.tracked_templates()
        if not found:
            return None
        args.found_templates = [str(p) for p in found]
    jobs = _build_jobs(args, cfg, notices)
    ours = (p for j in jobs for p in (j.template, *j.also))
    if changed is not None and not discovery.any_changed(changed, ours):
        return None  # (template-named files of no pair of ours may have changed)
    if refs.before is not None:
        jobs = [j._replace(hook_ref=refs.before) for j in jobs]
    return jobs


def _piped_env(args: argparse.Namespace) -> tuple[str | None, str | None]:
    """The env file's text and display name when ``--env`` is ``-`` (standard input) or a pipe
    (``/dev/stdin`` of a pipeline, a process substitution ``<(...)``); else ``(None, None)``.

    Read once, before any pair runs, and never written anywhere: CI can check a ``.env`` held
    in a secret without putting it on disk. ``fix`` can only preview it (``--dry-run``,
    ``--diff``): there is no file to write back to, so plain ``fix`` refuses (exit 2)."""
    from envsync_hook.files import reading
    from envsync_hook.locate import STDIN_NAME

    name = args.env
    if not name or (name != "-" and not reading.is_pipe(name)):
        return None, None
    if args.command == "fix" and not (args.dry_run or args.diff):
        raise EnvsyncError(
            f"--env {name}: fix cannot write an env file back to a pipe; "
            "use check, fix --dry-run or fix --diff"
        )
    if name == "-":
        return reading.read_pipe(0, "env file", "from standard input"), STDIN_NAME
    return reading.read_pipe(name, "env file", name), name


def _load_config(args: argparse.Namespace) -> dict[str, object]:
    """Configuration from ``--config``, ``.envsync.toml`` or ``[tool.envsync]`` ({} if none)."""
    from envsync_hook.config import FOLDER, find_and_load
    from envsync_hook.files import confine

    cfg = find_and_load(args.config)
    # a file found in or above the current directory sets the project folder; one named with
    # --config does not (every path it names counts as named on the command line)
    confine.confine_to(None if args.config or FOLDER not in cfg else str(cfg[FOLDER]))
    return cfg


def _settings(args: argparse.Namespace, cfg: dict[str, object]) -> Settings:
    """One Settings value: command-line options first, then the configuration file.

    Severity overrides from ``--severity`` come first (the first match wins); ignored keys add
    up; secret patterns from the file add to the built-in ones (never fewer keys masked)."""
    from envsync_hook.lean import cast
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
        generate_secrets=tuple(getattr(args, "generate_secrets", None) or ()),
    )


def _write_file(path: str, text: str) -> None:
    from envsync_hook.files import reports

    reports.write_report(path, text)


def _check_report_paths(args: argparse.Namespace) -> None:
    """Refuse a report path that is a symlink (or hard link) before anything is written."""
    from envsync_hook.files import reports

    for path in (args.output, args.junit, args.json, args.sarif):
        if path and path != "-":  # (``-``: standard output)
            reports.check_report_path(path)


#: the formats whose paths are from the repository root (GitHub resolves them there)
_ROOTED = ("github", "sarif")


def _from_root(
    results: list[PairResult], options: ReportOptions
) -> tuple[list[PairResult], ReportOptions]:
    """``results`` with paths from the repository root (``$GITHUB_WORKSPACE``, else the nearest
    ``.git`` above), and plain options naming that root; the current directory when there is
    none. Only the github and sarif reports use it: the text path never looks for a root."""
    from envsync_hook.locate import Rebaser, report_root

    cwd = os.getcwd()
    root = report_root(os.environ, cwd)
    plain = options._replace(color=False)
    if root is None:
        return results, plain._replace(root=os.path.realpath(cwd))
    return Rebaser(root, cwd).results(results), plain._replace(root=root)


def _report(
    args: argparse.Namespace, results: list[PairResult], settings: Settings, out: _Out
) -> None:
    from envsync_hook.reporters import ReportOptions, get_reporter

    fmt = args.format or "auto"
    if fmt == "auto":
        fmt = "github" if os.environ.get("GITHUB_ACTIONS") == "true" else "text"
    stream = sys.stdout
    to_file = args.output not in (None, "-")  # ``--output -`` is standard output, as usual
    color = False if to_file else _use_color(args.color, stream)
    options = ReportOptions(
        settings.fail_on,
        color,
        __version__,
        args.command,
        verbosity=-1 if args.quiet else 1 if args.verbose else 0,
        rerun=_rerun_args(getattr(args, "argv", ())),
        rerun_check=_rerun_args(getattr(args, "argv", ()), for_check=True),
        rerun_write=_rerun_args(getattr(args, "argv", ()), fresh=True)
        if args.command == "fix"
        else None,
        can_fix=_can_fix(args),
        show_values=settings.show_values,
        width=max(60, min(_terminal_width(), 100)) if color else 100,
    )
    # github and sarif reports name paths from the repository root (looked up only for them)
    rooted = _from_root(results, options) if fmt in _ROOTED or args.sarif else None

    def inputs(name: str, opts: ReportOptions) -> tuple[list[PairResult], ReportOptions]:
        """What reporter ``name`` renders: the results, their paths from the root if rooted."""
        return rooted if rooted is not None and name in _ROOTED else (results, opts)

    text = get_reporter(fmt)(*inputs(fmt, options))
    if to_file:
        _write_file(args.output, text)
    else:
        stream.write(text)
        stream.flush()
    plain = options._replace(color=False)
    for path, name in ((args.junit, "junit"), (args.json, "json"), (args.sarif, "sarif")):
        if path:
            _write_file(path, get_reporter(name)(*inputs(name, plain)))
    summary_path = os.environ.get("GITHUB_STEP_SUMMARY")
    if fmt == "github" and summary_path:
        from envsync_hook.reporters import step_summary

        try:
            with open(summary_path, "a", encoding="utf-8") as f:
                f.write(step_summary(*inputs("github", plain)))
        except OSError as e:
            out.notice(f"envsync: could not append to GITHUB_STEP_SUMMARY: {e.strerror or e}")


#: options that shape the report, not the run: left out of the commands ``next:`` suggests
_REPORT_FLAGS = frozenset(
    ("-q", "--quiet", "-v", "--verbose", "--show-values", "--dry-run", "--diff")
)
_REPORT_OPTIONS = frozenset(("--format", "--output", "--junit", "--json", "--sarif", "--color"))
#: options of fix that no suggested ``check`` takes (flags, and options with a value)
_FIX_FLAGS = frozenset(("--prune", "--keep-stale", "--force"))
_FIX_OPTIONS = frozenset(("--take-template", "--generate-secrets"))


def _can_fix(args: argparse.Namespace) -> bool:
    """Whether a suggested ``fix`` could run on this run's env file: not a pipe (``--env -``,
    ``--env <(...)``), which fix cannot write."""
    env = str(getattr(args, "env", None) or "")
    return env != "-" and not env.startswith(("/dev/", "/proc/"))


def _rerun_args(argv: Sequence[str], for_check: bool = False, fresh: bool = False) -> str:
    """The arguments after the subcommand, shell-quoted, without the report's own options and
    ``--generate-secrets`` (done once: a rerun would draw yet another value; ``fresh``: kept,
    for the fix that writes what a dry run showed); ``for_check``: without any option only
    fix takes (``check`` refuses them)."""
    from envsync_hook.reporters.text import shell_quote

    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        name = arg.split("=", 1)[0]
        if arg in _REPORT_FLAGS or (for_check and arg in _FIX_FLAGS):
            continue
        if (
            name in _REPORT_OPTIONS
            or (name == "--generate-secrets" and not fresh)
            or (for_check and name in _FIX_OPTIONS)
        ):
            skip = "=" not in arg
            continue
        out.append(shell_quote(arg))
    return " ".join(out)


def _exit_code(results: list[PairResult], settings: Settings) -> int:
    failed = any(
        f.at_or_above(settings.fail_on) for r in results if not r.skipped for f in r.findings
    )
    changed = any(r.changed for r in results)
    return 1 if failed or changed else 0


def _run_pairs(args: argparse.Namespace, out: _Out) -> int:
    if args.upgrade_hook and _hook_nothing_to_do(args):
        return 0  # the fast path of every checkout and pull that leaves the templates alone
    from envsync_hook import runner

    cfg = _load_config(args)
    settings = _settings(args, cfg)
    if_missing = args.if_missing or str(cfg.get("if_missing") or "fail")
    configured_dir = args.backup_dir or cfg.get("backup_dir")
    backup_dir = str(configured_dir) if configured_dir else None
    notices: list[str] = []
    if args.upgrade_hook:
        found = _upgrade_jobs(args, cfg, notices)
        if found is None:
            return 0
        jobs = found
    else:
        jobs = _build_jobs(args, cfg, notices)
    _check_report_paths(args)
    for msg in notices:
        out.notice(msg)
    results: list[PairResult] = []
    if args.command == "check":
        for job in jobs:
            results.append(safe_result(runner.check_pair(job, settings, if_missing, backup_dir)))
    else:
        opts = runner.FixOptions(args.dry_run, args.diff, backup_dir, if_missing, args.force)
        # all or nothing: with several pairs, every one is validated and merged (dry run)
        # before any pair writes, so a refusal in the last leaves the first untouched
        if len(jobs) > 1 and not opts.dry_run:
            rehearsal = opts._replace(dry_run=True, diff=False)
            for job in jobs:
                runner.fix_pair(job, settings, rehearsal)
        for job in jobs:
            outcome = runner.fix_pair(job, settings, opts)
            results.append(safe_result(outcome.result))
            if outcome.diff:
                sys.stdout.write(outcome.diff)
    _report(args, results, settings, out)
    for r in results:
        out.notice(r.notice)
    if args.upgrade_hook and args.command == "fix":
        # after a checkout or pull, git returns the hook's status as its own: an .env brought
        # up to date is no failure (the hook is verbose, so what it did is shown anyway)
        return 0
    return _exit_code(results, settings)


def _backup_line(info: BackupInfo) -> str:
    """One line of ``restore --list``: path, time, size, what made it."""
    if info.made_by is None:
        made = "made by an older envsync"
        if not info.attributable:
            made += " (not surely this env file's: restore it with --from)"
    elif info.restored_from:
        made = f"made by restore (the file it replaced when it put back {info.restored_from})"
    else:
        made = f"made by {info.made_by}"
    return escape(f"{info.path}  {info.time}  {info.size} bytes  {made}")


def _restore(args: argparse.Namespace, out: _Out) -> int:
    from envsync_hook.files import backups, reading, restore, targets

    env = Path(args.env)
    bdir = backups.backup_dir_for(env, args.backup_dir)
    targets.check_confined(env, bdir)  # (before listing: a planted folder symlink leads out)
    if args.list:
        infos = backups.backup_infos(env, bdir) if bdir.is_dir() else []
        if not infos:
            out.notice(f"no backups of {env} in {bdir}")
        for b in infos:
            print(_backup_line(b))
        return 0
    if args.source:
        source = Path(args.source)
        # only a backup of this env file, read from where it was checked to be
        checked = restore.check_source(env, source, bdir)
    elif bdir.is_dir():
        targets.check_writable_target(env, bdir)  # (a planted symlink is refused before anything)
        source = backups.pick_backup(env, bdir)
        checked = restore.check_source(env, source, bdir)  # (a planted hard link is refused)
    else:
        raise EnvsyncError(f"no backups of {env} in {bdir}")
    # refuse unreadable, non-UTF-8 or NUL-holding backups, and a symlink (never followed)
    reading.read_backup(checked, source)
    made = restore.restore(env, checked, bdir, force=args.force)
    from envsync_hook.base import forget_record

    # the record names the templates the replaced file was synced with, not the restored one
    forget_record(env, bdir)
    extra = f" (the previous {env} is in {made})" if made else ""
    out.notice(f"{env}: restored from {source}{extra}")
    return 0


#: where an unexpected error asks to be reported
ISSUES_URL = "https://github.com/envsync-hook/envsync-hook/issues"


def _tolerant_streams() -> None:
    """Let stdout and stderr write any character: on a stream whose encoding cannot hold one
    (``PYTHONIOENCODING=cp1252`` on a Windows runner, a C locale) it is written as a backslash
    escape rather than ending the run with UnicodeEncodeError."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            with contextlib.suppress(ValueError, OSError):  # (a closed or detached stream)
                reconfigure(errors="backslashreplace")


def _internal_error(e: BaseException) -> str:
    """One line for an unexpected exception: its type and where it was raised, never its
    message (which may hold a value), and where to report it."""
    tb = e.__traceback__
    where = ""
    while tb is not None:
        if "envsync_hook" in tb.tb_frame.f_code.co_filename:
            name = os.path.basename(tb.tb_frame.f_code.co_filename)
            where = f" at {name}:{tb.tb_lineno}"
        tb = tb.tb_next
    return (
        f"internal error ({type(e).__name__}{where}); nothing more is shown, so that no value "
        f"leaks; please report it with the command you ran: {ISSUES_URL}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code. Never raises (but SystemExit from
    argparse): an unexpected exception is one line on stderr and exit 2."""
    _tolerant_streams()
    try:
        return _collected(argv)
    except (SystemExit, KeyboardInterrupt):
        raise
    except OSError as e:  # an output that cannot be written (a full disk, a closed pipe)
        _Out.error(f"I/O error: {e.strerror or type(e).__name__}; nothing more is shown")
        return 2
    except BaseException as e:  # noqa: BLE001 - the last resort: no traceback, no value
        _Out.error(_internal_error(e))
        return 2


def _collected(argv: Sequence[str] | None) -> int:
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
    words = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(words[0] if words else None)
    args = parser.parse_args(words)
    if args.command in words:  # what follows the subcommand, for the report's ``next:``
        args.argv = words[words.index(args.command) + 1 :]
    out = _Out(getattr(args, "quiet", False))
    try:
        if args.command == "schema":
            from envsync_hook.reporters import json_schema

            sys.stdout.write(json_schema())
            return 0
        if args.command == "restore":
            return _restore(args, out)
        if args.command in ("rules", "explain"):
            from envsync_hook import explain

            rule = args.rule
            sys.stdout.write(explain.explain(rule) if rule else explain.rules_table())
            return 0
        return _run_pairs(args, out)
    except EnvsyncError as e:
        out.error(str(e))
        return 2
    except KeyboardInterrupt:
        out.error("interrupted")
        return 130
