"""Configuration files: ``--config FILE``, ``.envsync.toml`` or ``[tool.envsync]`` in pyproject.

Looked up in the current directory, then in each directory above it up to the repository root
(the first directory holding ``.git``) or the filesystem root, as ruff and yamllint look for
theirs; in each directory ``.envsync.toml`` first, then a ``pyproject.toml`` that has a
``[tool.envsync]`` table. The first found is the only one read.
A file is validated by pydantic (unknown fields refused) and turned into a plain dict for the
CLI. pydantic and the TOML parser are imported only when a configuration file exists: the
default path (no file) stays as light as a run without this module.

Relative paths in a file are relative to the file's directory.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from envsync_hook.errors import EnvsyncError
from envsync_hook.lean import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

    from pydantic import BaseModel

CONFIG_NAME = ".envsync.toml"
PYPROJECT = "pyproject.toml"
#: key of the loaded configuration holding the folder of its file (not a setting)
FOLDER = "folder"
#: the table of a pyproject.toml (or of any configuration file) that holds the settings
TABLE = ("tool", "envsync")

#: keys holding one path, or a list of paths / globs, resolved against the file's directory
_PATH_KEYS = ("env", "base", "backup_dir")
_PATH_LIST_KEYS = ("templates", "also")


def find_and_load(explicit: str | None) -> dict[str, object]:
    """The configuration to apply, as a plain dict ({} when there is no configuration file).

    ``explicit`` (``--config FILE``) must exist. Otherwise the nearest of ``.envsync.toml`` or
    ``[tool.envsync]`` of ``pyproject.toml`` (:func:`discover`). Keys are the fields of
    :func:`config_model` that the file sets; ``severity`` is a tuple of ``(rule, level)``
    pairs, lists are tuples, ``pairs`` a tuple of dicts (every pair key present).

    Raises :class:`EnvsyncError` (one line naming the file, and the field when there is one)
    for an unreadable, malformed or invalid file.
    """
    if explicit:
        return _load(Path(explicit), required_table=Path(explicit).name == PYPROJECT) or {}
    for directory in _upward():
        local = directory / CONFIG_NAME
        if local.is_file():
            return _load(local, required_table=False) or {}
        pyproject = directory / PYPROJECT
        if pyproject.is_file():
            data = _read_bytes(pyproject)
            # cheap pre-check: most pyproject files have no such table; skip TOML and pydantic
            if b"tool.envsync" in data:
                found = _load(pyproject, required_table=False, data=data, optional_table=True)
                if found is not None:
                    return found
        if os.path.lexists(directory / ".git"):
            break  # the repository root: a file above it belongs to another project
    return {}


def may_apply(explicit: str | None) -> bool:
    """Whether a configuration file may apply (cheap: existence only, nothing parsed): one is
    named (``--config``), or one of :func:`find_and_load`'s places holds one."""
    if explicit:
        return True
    for directory in _upward():
        if (directory / CONFIG_NAME).is_file():
            return True
        try:
            with open(directory / PYPROJECT, "rb") as f:
                if b"tool.envsync" in f.read():
                    return True
        except OSError:
            pass
        if os.path.lexists(directory / ".git"):
            break
    return False


def _upward() -> list[Path]:
    """The current directory (``.``), then ``..``, ``../..``, ... up to the filesystem root,
    as relative paths: a file found above is named the way the user would name it, and the
    relative paths it holds stay relative to the current directory."""
    here = Path.cwd()
    return [Path(*([".."] * up)) if up else Path(".") for up in range(len(here.parents) + 1)]


#: the largest configuration file read (a real one is a few hundred bytes)
MAX_CONFIG_BYTES = 1024 * 1024


def _read_bytes(path: Path) -> bytes:
    """The bytes of a configuration file, which must be a regular file of at most
    :data:`MAX_CONFIG_BYTES`: a FIFO would block the run forever and ``/dev/zero`` fill the
    memory. Opened without blocking and checked on the open descriptor (no race with a swap)."""
    import stat

    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except IsADirectoryError:
        raise EnvsyncError(f"cannot read configuration file {path}: is a directory") from None
    except OSError as e:
        raise EnvsyncError(f"cannot read configuration file {path}: {e.strerror or e}") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise EnvsyncError(f"cannot read configuration file {path}: is a directory")
        if not stat.S_ISREG(st.st_mode):
            raise EnvsyncError(f"refusing configuration file {path}: not a regular file")
        if st.st_size > MAX_CONFIG_BYTES:
            raise EnvsyncError(
                f"refusing configuration file {path}: larger than {MAX_CONFIG_BYTES} bytes"
            )
        chunks = []
        size = 0
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            size += len(chunk)
            if size > MAX_CONFIG_BYTES:  # (grew since fstat)
                raise EnvsyncError(
                    f"refusing configuration file {path}: larger than {MAX_CONFIG_BYTES} bytes"
                )
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as e:
        raise EnvsyncError(f"cannot read configuration file {path}: {e.strerror or e}") from None
    finally:
        os.close(fd)


def _parse_toml(path: Path, data: bytes) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python < 3.11 only
        import tomli as tomllib
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise EnvsyncError(
            f"cannot read configuration file {path}: invalid UTF-8 at byte {e.start}"
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        # the message names line and column ("... (at line 3, column 7)"), never the content
        msg = " ".join(str(e).split())
        raise EnvsyncError(f"invalid TOML in {path}: {msg}") from None


def _load(
    path: Path,
    *,
    required_table: bool,
    data: bytes | None = None,
    optional_table: bool = False,
) -> dict[str, object] | None:
    """The file's settings; None when ``optional_table`` and it has no ``[tool.envsync]``."""
    raw = _parse_toml(path, _read_bytes(path) if data is None else data)
    tool = raw.get(TABLE[0])
    prefix = ""
    if isinstance(tool, dict) and TABLE[1] in tool:
        section = tool[TABLE[1]]
        prefix = ".".join(TABLE) + "."
        if not isinstance(section, dict):
            raise EnvsyncError(
                f"invalid configuration in {path}: {'.'.join(TABLE)}: expected a table"
            )
    elif optional_table:
        return None  # the pre-check matched a comment or a string, not the table
    elif required_table:
        raise EnvsyncError(f"invalid configuration in {path}: no [{'.'.join(TABLE)}] table")
    else:
        section = raw
    config = _validate(path, section, prefix)
    plain = _to_plain(config, path.parent)
    # where the file was found: the project's folder, which files it names must not leave
    plain[FOLDER] = str(path.parent)
    return plain


def _validate(path: Path, section: dict[str, Any], prefix: str) -> BaseModel:
    from pydantic import ValidationError

    try:
        return config_model().model_validate(section)
    except ValidationError as e:
        errors = e.errors(include_url=False, include_context=False, include_input=False)
        first = errors[0]
        loc = _location(first["loc"])
        msg = _message(first["type"], first["msg"])
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        where = f"{prefix}{loc}: " if loc else (f"{prefix.rstrip('.')}: " if prefix else "")
        raise EnvsyncError(f"invalid configuration in {path}: {where}{msg}{more}") from None


def _location(loc: tuple[int | str, ...]) -> str:
    """``pairs[0].env``, ``severity.ENV999``: the field as the file spells it."""
    out = ""
    for part in loc:
        if part == "[key]":  # pydantic's marker for an invalid dict key; the key says it all
            continue
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _message(kind: str, msg: str) -> str:
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required field missing"
    for lead in ("Value error, ", "Assertion failed, "):
        if msg.startswith(lead):
            msg = msg[len(lead) :]
    return " ".join(msg.split())


def _resolve(base: Path, value: str) -> str:
    """``value`` relative to the configuration file's directory (unchanged when absolute)."""
    if not str(base) or base == Path(".") or os.path.isabs(value):
        return value
    return str(base / value)


def _to_plain(config: BaseModel, base: Path) -> dict[str, object]:
    data = config.model_dump(exclude_unset=True)
    out: dict[str, object] = {}
    for key, value in data.items():
        if key in _PATH_KEYS:
            out[key] = _resolve(base, value)
        elif key in _PATH_LIST_KEYS:
            out[key] = tuple(_resolve(base, v) for v in value)
        elif key == "severity":
            out[key] = tuple(value.items())
        elif key == "pairs":
            out[key] = tuple(_pair_plain(p, base) for p in value)
        elif isinstance(value, list):
            out[key] = tuple(value)
        else:
            out[key] = value
    return out


def _pair_plain(pair: dict[str, Any], base: Path) -> dict[str, object]:
    out: dict[str, object] = {
        "template": _resolve(base, pair["template"]),
        "env": None,
        "also": (),
        "base": None,
        "base_ref": pair.get("base_ref"),
        "backup_dir": None,
    }
    for key in ("env", "base", "backup_dir"):
        if pair.get(key) is not None:
            out[key] = _resolve(base, pair[key])
    out["also"] = tuple(_resolve(base, a) for a in pair.get("also") or ())
    return out


def _models() -> type[BaseModel]:
    """Build the pydantic models on first use (importing pydantic costs more than a check)."""
    from typing import Annotated, Literal, Optional

    from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, model_validator

    from envsync_hook.settings import known_rule

    def rule_name(name: str) -> str:
        if not known_rule(name):
            raise ValueError(
                "unknown rule (expected a code like ENV001 or a slug like missing-key)"
            )
        return name

    def lower(value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    Rule = Annotated[str, AfterValidator(rule_name)]
    Level = Annotated[Literal["error", "warning", "info", "off"], BeforeValidator(lower)]
    FailOn = Annotated[Literal["error", "warning", "info", "never"], BeforeValidator(lower)]
    NonEmpty = Annotated[str, AfterValidator(_non_empty)]

    class _Strict(BaseModel):
        model_config = ConfigDict(extra="forbid", strict=True)

        @model_validator(mode="after")
        def _one_base(self) -> _Strict:
            if getattr(self, "base", None) is not None and getattr(self, "base_ref", None):
                raise ValueError("base and base_ref exclude each other; set one")
            return self

    class PairConfig(_Strict):
        template: NonEmpty
        env: Optional[NonEmpty] = None  # noqa: UP045 - pydantic evaluates this on 3.9
        also: list[NonEmpty] = []
        base: Optional[NonEmpty] = None  # noqa: UP045
        base_ref: Optional[NonEmpty] = None  # noqa: UP045
        backup_dir: Optional[NonEmpty] = None  # noqa: UP045

    class Config(_Strict):
        """``[tool.envsync]`` / ``.envsync.toml``: every field optional, none unknown."""

        pairs: list[PairConfig] = []
        templates: list[NonEmpty] = []
        env: Optional[NonEmpty] = None  # noqa: UP045
        also: list[NonEmpty] = []
        base: Optional[NonEmpty] = None  # noqa: UP045
        base_ref: Optional[NonEmpty] = None  # noqa: UP045
        backup_dir: Optional[NonEmpty] = None  # noqa: UP045
        severity: dict[Rule, Level] = {}
        ignore: list[NonEmpty] = []
        secret_patterns: list[NonEmpty] = []
        fail_on: Optional[FailOn] = None  # noqa: UP045
        show_values: Optional[bool] = None  # noqa: UP045
        if_missing: Optional[Literal["fail", "skip"]] = None  # noqa: UP045
        #: find each template's set from the compose files beside it (default true)
        discover: Optional[bool] = None  # noqa: UP045
        keep_stale: Optional[bool] = None  # noqa: UP045
        prune: Optional[bool] = None  # noqa: UP045

        @model_validator(mode="after")
        def _pairing(self) -> Config:
            if self.pairs and self.templates:
                raise ValueError("pairs and templates exclude each other; list templates in pairs")
            if self.pairs and self.env is not None:
                raise ValueError("env goes with templates, not pairs; set env in each pair")
            if self.env is not None and len(self.templates) > 1:
                raise ValueError("env goes with one template; several templates are listed")
            return self

    return Config


def _non_empty(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


_MODEL: list[type[BaseModel]] = []


def config_model() -> type[BaseModel]:
    """The pydantic model of a configuration file (built, and pydantic imported, on first use)."""
    if not _MODEL:
        _MODEL.append(_models())
    return _MODEL[0]
