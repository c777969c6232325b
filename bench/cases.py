"""Benchmark inputs: template/env pairs, written as ``.env.example`` and ``.env``.

Two kinds:

- ``dify``: Dify 1.10.0's ``docker/.env.example``, customised the way an operator would (secrets
  set, some numbers, switches and URLs changed, a few keys of their own), against the 1.14.0
  template. Read from ``$ENVSYNC_CORPUS``; without it a generated pair of the same shape.
- ``synthetic``: N template keys with comment lines, section headers, commented-out opt-ins and
  every value form (numbers, switches, URLs, paths, double- and single-quoted, empty, references,
  inline comments, an occasional multi-line value). The env file is the previous release's
  template, customised: 5% of the template's keys are missing from it (new upstream), it holds 5%
  extra keys (removed or renamed upstream), 10% customised values, a few operator-only keys at
  the end and a few duplicates.

Everything is deterministic (fixed seeds), so two runs measure the same bytes.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
from pathlib import Path
from typing import NamedTuple

DIFY_OLD = "dify/1.10.0/docker/.env.example"
DIFY_NEW = "dify/1.14.0/docker/.env.example"

_ASSIGN = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
_SECRET = re.compile(r"PASSWORD|SECRET|TOKEN|_KEY$|API_KEY")

_PUBLIC_URLS = ("CONSOLE_API_URL", "APP_WEB_URL", "SERVICE_API_URL", "FILES_URL")
_SECTIONS = (
    "API", "WEB", "DB", "REDIS", "CELERY", "STORAGE", "VECTOR_STORE", "MAIL", "SANDBOX",
    "PLUGIN", "NGINX", "CERTBOT", "LOG", "OTEL", "WORKFLOW", "MODEL",
)  # fmt: skip
_WORDS = (
    "HOST", "PORT", "TIMEOUT", "ENABLED", "URL", "PATH", "MODE", "LEVEL", "SIZE", "LIMIT",
    "NAME", "USER", "REGION", "BUCKET", "WORKERS", "INTERVAL", "RETRIES", "PREFIX", "TTL",
)  # fmt: skip


class Case(NamedTuple):
    name: str  # short label for the table
    directory: Path  # holds .env.example and .env
    source: str  # where the pair came from
    template_keys: int
    env_keys: int
    template_lines: int
    env_lines: int


def _count(text: str) -> tuple[int, int]:
    keys = sum(1 for line in text.splitlines() if _ASSIGN.match(line))
    return keys, text.count("\n") + (0 if text.endswith("\n") or not text else 1)


def _write_case(name: str, directory: Path, source: str, template: str, env: str) -> Case:
    directory.mkdir(parents=True, exist_ok=True)
    for fname, text in ((".env.example", template), (".env", env)):
        path = directory / fname
        data = text.encode("utf-8")
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)
    os.chmod(directory / ".env", 0o600)
    tk, tl = _count(template)
    ek, el = _count(env)
    return Case(name, directory, source, tk, ek, tl, el)


# ---------------------------------------------------------------------------------------------
# (a) Dify


def customise_dify(old_template: str, seed: int = 1010) -> str:
    """What an operator's ``.env`` made from ``old_template`` looks like a few months later."""
    rng = random.Random(seed)
    out: list[str] = []
    n = 0
    for line in old_template.splitlines(keepends=True):
        m = _ASSIGN.match(line.rstrip("\r\n"))
        if m is None:
            out.append(line)
            continue
        key, value = m.groups()
        n += 1
        new = value
        if _SECRET.search(key) and value:
            new = "".join(rng.choice("0123456789abcdef") for _ in range(32))
        elif value.isdigit() and n % 3 == 0:
            new = str(int(value) * 2)
        elif value in ("true", "false") and n % 4 == 0:
            new = "false" if value == "true" else "true"
        elif (value.startswith(("http://", "https://")) and n % 3 == 0) or key in _PUBLIC_URLS:
            new = "https://dify.example.com"
        out.append(f"{key}={new}\n" if new != value else line)
    out.append("\n# ---- local additions (operator) ----\n")
    out.append("COMPOSE_PROJECT_NAME=dify-prod\n")
    out.append("# nightly dump target\n")
    out.append("BACKUP_BUCKET=s3://example-backups/dify\n")
    out.append("BACKUP_RETENTION_DAYS=14\n")
    return "".join(out)


def dify_case(root: Path) -> Case:
    """Case (a): from ``$ENVSYNC_CORPUS`` when set and present, else a look-alike."""
    corpus = os.environ.get("ENVSYNC_CORPUS")
    if corpus:
        old, new = Path(corpus, DIFY_OLD), Path(corpus, DIFY_NEW)
        if old.is_file() and new.is_file():
            return _write_case(
                "dify",
                root / "dify",
                "Dify 1.10.0 .env (customised) vs 1.14.0 .env.example ($ENVSYNC_CORPUS)",
                new.read_text(encoding="utf-8"),
                customise_dify(old.read_text(encoding="utf-8")),
            )
    # the shape of the real pair: ~720 template keys in ~1,630 lines, ~620 env keys
    template, env = synthetic_texts(720, seed=1014, missing=0.15, extra=0.02)
    return _write_case(
        "dify",
        root / "dify",
        "generated look-alike of Dify 1.10.0 -> 1.14.0 (ENVSYNC_CORPUS not set)",
        template,
        env,
    )


def dify_history_case(root: Path) -> Path | None:
    """A clone of Dify's template history (``$ENVSYNC_CORPUS/dify/env-history.bundle``, 244
    revisions, checked out at 1.14.1) with ``docker/.env`` copied from 1.10.0 and customised:
    a plain ``check`` there infers its base from the git history. The ``docker`` folder, or None
    without the corpus or git."""
    corpus = os.environ.get("ENVSYNC_CORPUS")
    bundle = Path(corpus or "", "dify", "env-history.bundle")
    if not corpus or not bundle.is_file() or shutil.which("git") is None:
        return None
    repo = root / "dify-history"
    if not (repo / ".git").is_dir():
        subprocess.run(
            ["git", "clone", "-q", "-b", "main", str(bundle), str(repo)],
            check=True,
            capture_output=True,
        )
    old = subprocess.run(
        ["git", "-C", str(repo), "show", "1.10.0:docker/.env.example"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    env = repo / "docker" / ".env"
    env.write_text(customise_dify(old), encoding="utf-8")
    env.chmod(0o600)
    return repo / "docker"


# ---------------------------------------------------------------------------------------------
# (b) synthetic pairs


def _key(i: int) -> str:
    return f"{_SECTIONS[i % len(_SECTIONS)]}_{_WORDS[(i // 7) % len(_WORDS)]}_{i}"


def _renamed(key: str) -> str:
    """An older name of ``key``: its first word differs (what ENV009 looks for)."""
    head, _, tail = key.partition("_")
    return f"LEGACY{head}_{tail}"


def _value(i: int, rng: random.Random) -> str:
    kind = i % 10
    if kind == 0:
        return str(rng.randrange(1, 5000))
    if kind == 1:
        return rng.choice(("true", "false"))
    if kind == 2:
        return f"http://{_SECTIONS[i % len(_SECTIONS)].lower()}-{i}:{8000 + i % 1000}/v1"
    if kind == 3:
        return f"/var/lib/app/{i}/data"
    if kind == 4:
        return f"value_{i}"
    if kind == 5:
        return f'"two words {i}"'
    if kind == 6:
        return ""
    if kind == 7:
        return f"${{{_key(i - 7)}:-fallback_{i}}}" if i >= 7 else "plain"
    if kind == 8:
        return f"'literal $dollar {i}'"
    if i % 1000 == 9:
        return f'"-----BEGIN DEMO-----\nline one {i}\nline two {i}\n-----END DEMO-----"'
    return f"item{i} # trailing note"


def _customised(i: int, value: str) -> str:
    kind = i % 10
    if kind == 0:
        return str(int(value) + 1)
    if kind == 1:
        return "false" if value == "true" else "true"
    if kind == 2:
        return f"https://custom-{i}.example.com"
    if kind in (5, 9):
        return f'"custom value {i}"'
    if kind == 8:
        return f"'custom literal {i}'"
    return f"custom_{i}"


def _comment(i: int) -> list[str]:
    if i % 5 == 4:
        return []
    lines = [f"# {_WORDS[i % len(_WORDS)].lower()} setting number {i} of this section."]
    if i % 3 == 0:
        lines.append("# Set it to match your deployment; the default suits a single host.")
    return lines


def _render(entries: list[tuple[int, str, str]], optins: bool) -> str:
    out: list[str] = []
    for pos, (i, key, value) in enumerate(entries):
        if pos % 40 == 0:
            section = _SECTIONS[(pos // 40) % len(_SECTIONS)]
            out.append("")
            out.append("# " + "-" * 60)
            out.append(f"# {section} configuration")
            out.append("# " + "-" * 60)
            out.append("")
        out.extend(_comment(i))
        out.append(f"{key}={value}")
        if optins and pos % 150 == 75:
            out.append(f"# OPTIONAL_{key}=enabled")
    return "\n".join(out).lstrip("\n") + "\n"


def synthetic_texts(
    n_keys: int, seed: int = 7, missing: float = 0.05, extra: float = 0.05
) -> tuple[str, str]:
    """A template with ``n_keys`` keys and an env file made from its previous release."""
    rng = random.Random(seed)
    every_missing = max(2, round(1 / missing)) if missing else 0
    every_extra = max(2, round(1 / extra)) if extra else 0
    new_entries: list[tuple[int, str, str]] = []
    old_entries: list[tuple[int, str, str]] = []
    for i in range(n_keys):
        key, value = _key(i), _value(i, rng)
        new_entries.append((i, key, value))
        is_new = every_missing and i % every_missing == every_missing // 2
        if is_new and i % 2:
            old_entries.append((i, _renamed(key), value))  # renamed upstream
        elif not is_new:
            old_entries.append((i, key, value))
        if every_extra and i % every_extra == 1:
            old_entries.append((i, f"REMOVED_{key}", _value(i + 3, rng)))  # dropped upstream
    env_entries = []
    for i, key, value in old_entries:
        if i % 10 == 3 or (i % 10 in (0, 1, 2, 5, 8, 9) and i % 97 == 0):
            value = _customised(i, value) if not value.startswith("$") else f"custom_{i}"
        env_entries.append((i, key, value))
    template = _render(new_entries, optins=True)
    env = _render(env_entries, optins=False)
    tail = ["", "# ---- operator additions ----"]
    for j in range(max(1, n_keys // 200)):
        tail.append(f"# added by ops, ticket {j}")
        tail.append(f"OPS_LOCAL_SETTING_{j}=on")
    for j in range(max(1, n_keys // 1000)):
        tail.append(f"{_key(j * 10 + 4)}=duplicate_{j}")  # compose uses the last
    env += "\n".join(tail) + "\n"
    return template, env


def synthetic_label(n_keys: int) -> str:
    return f"{n_keys // 1000}k" if n_keys % 1000 == 0 else str(n_keys)


def synthetic_case(root: Path, n_keys: int) -> Case:
    template, env = synthetic_texts(n_keys)
    return _write_case(
        synthetic_label(n_keys),
        root / f"synthetic-{n_keys}",
        f"generated, {n_keys} template keys",
        template,
        env,
    )
