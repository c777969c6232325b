"""Build ``tests/data/renames.tsv``: keys that left a template and keys that arrived, from real
template histories, each departure labelled with the key it was really renamed to (or none).

    ENVSYNC_CORPUS=../shared/corpus python tests/data/make_renames.py > tests/data/renames.tsv

Cases (one per ``case`` value):
- every pair of consecutive revisions of Dify's ``docker/.env.example``
  (``dify/env-history.bundle``, 244 revisions) in which keys both left and arrived;
- every pair of consecutive Dify release tags in that history (renames composed along the
  revisions between them), and the corpus's larger jumps (1.10.0 -> 1.14.1 with its template set
  and with the main template alone, as ``--no-discover`` sees it);
- the sentry, n8n and plausible releases of the corpus (oldest first);
- the rename issue 13 names (``SA_SPAM_SUBJECT`` -> ``SPAM_SUBJECT``, values not given there).

Labels come from :data:`RENAMES` (old key, commit) -> new key, each with its evidence (the
commit's message, equal values, the same key prefixed in the same commit); every other
(departure, arrival) pair of a case is a real non-rename. Columns: source, case, side (``-`` left,
``+`` arrived), key, value (the template's value, ``\\t``, ``\\n`` and ``\\\\`` escaped),
renamed_to, evidence.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from envsync_hook.compare import canonical, index
from envsync_hook.document import parse

# (departed key, new key, evidence) per Dify commit (short hash): the renames of that commit
PREFIXED_5778 = (
    "a0ea1126 'fulfill default value in docker compose yaml' prefixes each service's keys"
)
RENAMES: dict[str, list[tuple[str, str, str]]] = {
    "698d0e05": [("HTTP_PORT", "SSRF_HTTP_PORT", "same value 3128; the SSRF proxy's port")],
    "3f24316d": [
        (
            "RESET_PASSWORD_TOKEN_EXPIRY_HOURS",
            "RESET_PASSWORD_TOKEN_EXPIRY_MINUTES",
            "commit 'fix: TOKEN_EXPIRY_MINUTES' (0.0833 h = 5 min)",
        )
    ],
    "26de313b": [
        (
            "MULTIMODAL_SEND_IMAGE_FORMAT",
            "MULTIMODAL_SEND_FORMAT",
            "merged into one key (same value)",
        ),
        (
            "MULTIMODAL_SEND_VIDEO_FORMAT",
            "MULTIMODAL_SEND_FORMAT",
            "merged into one key (same value)",
        ),
    ],
    "b96e30db": [
        (
            "STORAGE_LOCAL_PATH",
            "OPENDAL_FS_ROOT",
            "opendal's fs root replaces the local path (same value)",
        )
    ],
    "27e703b2": [("STORAGE_OPENDAL_SCHEME", "OPENDAL_SCHEME", "prefix dropped (same value fs)")],
    "0d446c0d": [
        (f"PUBSUB_REDIS_{k}", f"EVENT_BUS_REDIS_{k}", "commit 'rename configuration'")
        for k in ("URL", "CHANNEL_TYPE", "USE_CLUSTERS")
    ],
    "8f88620e": [("VIKINGDB_SCHEMA", "VIKINGDB_SCHEME", "spelling fixed (same value http)")],
    "a0ea1126": [("SENTRY_DSN", "API_SENTRY_DSN", PREFIXED_5778 + " (the API's DSN; WEB_ is new)")],
    # across two commits of one day: 52df4da 'add environment variable POSTGRES_USER' (value
    # ${DB_USERNAME}), then this one, 'remove redundant PG_USER' (the same value)
    "12030160": [
        (
            "PGUSER",
            "POSTGRES_USER",
            "52df4da added it with PGUSER's value; 1203016 removed PGUSER as redundant",
        )
    ],
}
#: commits whose departures are renamed to the same key with a prefix (one candidate each)
PREFIX_COMMITS = {"a0ea1126": PREFIXED_5778}


def _keys(text: str) -> dict[str, str]:
    side = index("t", parse(text))
    return {k: canonical(side.doc.templates[i]) for k, i in side.last.items()}


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, check=True, text=True
    ).stdout


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def _rows(
    source: str,
    case: str,
    old: dict[str, str],
    new: dict[str, str],
    truth: dict[str, tuple[str, str]],
) -> list[str]:
    left = [k for k in old if k not in new]
    came = [k for k in new if k not in old]
    if not left or not came:
        return []
    out = []
    for k in left:
        to, why = truth.get(k, ("", ""))
        if to and to not in came:
            to, why = "", ""
        out.append("\t".join((source, case, "-", k, _esc(old[k]), to, why)))
    out += ["\t".join((source, case, "+", k, _esc(new[k]), "", "")) for k in came]
    return out


def _commit_renames(short: str, left: list[str], came: list[str]) -> dict[str, tuple[str, str]]:
    truth = {old: (new, why) for old, new, why in RENAMES.get(short, [])}
    why = PREFIX_COMMITS.get(short)
    if why:
        for k in left:
            hits = [a for a in came if a.endswith("_" + k)]
            if k not in truth and len(hits) == 1:
                truth[k] = (hits[0], why + " (same value)")
    return truth


def dify(corpus: Path) -> list[str]:
    out: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "h"
        subprocess.run(
            [
                "git",
                "clone",
                "-q",
                "-b",
                "main",
                str(corpus / "dify/env-history.bundle"),
                str(repo),
            ],
            check=True,
        )
        revs = _git(repo, "rev-list", "--reverse", "main").split()
        tags = {}
        for line in _git(repo, "tag", "--format=%(objectname) %(refname:short)").splitlines():
            sha, tag = line.split()
            tags.setdefault(sha, tag)
        keys = [_keys(_git(repo, "show", f"{r}:docker/.env.example")) for r in revs]
        # renames per revision, and the name each key has at every later revision
        per_rev: list[dict[str, tuple[str, str]]] = [{}]
        for i in range(1, len(revs)):
            left = [k for k in keys[i - 1] if k not in keys[i]]
            came = [k for k in keys[i] if k not in keys[i - 1]]
            truth = _commit_renames(revs[i][:8], left, came)
            per_rev.append(truth)
            subject = _git(repo, "log", "-1", "--format=%s", revs[i]).strip()
            case = f"{revs[i][:8]} {subject[:60]}"
            out += _rows("dify-history", case, keys[i - 1], keys[i], truth)

        def composed(a: int, b: int) -> dict[str, tuple[str, str]]:
            """Renames from revision a to b: each key followed through the revisions between."""
            result = {}
            for k in keys[a]:
                name, why = k, ""
                for i in range(a + 1, b + 1):
                    if name in per_rev[i]:
                        name, why = per_rev[i][name][0], per_rev[i][name][1]
                if name != k:
                    result[k] = (name, why)
            return result

        tagged = [i for i, r in enumerate(revs) if r in tags]
        for a, b in zip(tagged, tagged[1:]):
            case = f"{tags[revs[a]]} -> {tags[revs[b]]}"
            out += _rows("dify-releases", case, keys[a], keys[b], composed(a, b))
        at = {tags[revs[i]]: i for i in tagged}
        # larger jumps an operator makes, from the corpus folders (1.14.1 with its set)
        for old_tag, new_tag in (
            ("0.6.12", "1.0.0"),
            ("1.0.0", "1.4.0"),
            ("1.4.0", "1.10.0"),
            ("1.10.0", "1.14.0"),
            ("1.4.0", "1.14.0"),
        ):
            out += _rows(
                "dify-releases",
                f"{old_tag} -> {new_tag}",
                keys[at[old_tag]],
                keys[at[new_tag]],
                composed(at[old_tag], at[new_tag]),
            )
        main_only = keys[at["1.14.1"]]
        out += _rows(
            "dify-releases",
            "1.10.0 -> 1.14.1 (main template only)",
            keys[at["1.10.0"]],
            main_only,
            composed(at["1.10.0"], at["1.14.1"]),
        )
        folder = corpus / "dify/1.14.1/docker"
        whole = dict(main_only)
        for p in sorted((folder / "envs").rglob("*.env.example")):
            whole.update({k: v for k, v in _keys(p.read_text("utf-8")).items() if k not in whole})
        out += _rows(
            "dify-releases",
            "1.10.0 -> 1.14.1 (template set)",
            keys[at["1.10.0"]],
            whole,
            composed(at["1.10.0"], at["1.14.1"]),
        )
    return out


def others(corpus: Path) -> list[str]:
    out: list[str] = []
    series = [
        ("sentry-self-hosted", ["10.0.0/.env", "23.6.0/.env", "26.8.0/.env"]),
        ("n8n-hosting", ["ce750c9/.env", "v1.2.0/.env", "v1.11.0/.env"]),
        (
            "plausible-ce",
            [
                "c0fcca1/plausible-conf.env",
                "7a3a3d2/plausible-conf.env",
                "v2.1.0/plausible-conf.env",
            ],
        ),
    ]
    for project, files in series:
        texts = [_keys((corpus / project / f).read_text("utf-8")) for f in files]
        for a, b in ((0, 1), (1, 2), (0, 2)):
            case = f"{files[a].split('/')[0]} -> {files[b].split('/')[0]}"
            out += _rows(project, case, texts[a], texts[b], {})
    # the rename issue 13 names (a prefix word dropped); its values are not given there
    out += _rows(
        "issue-13",
        "SA_SPAM_SUBJECT dropped its prefix",
        {"SA_SPAM_SUBJECT": ""},
        {"SPAM_SUBJECT": ""},
        {"SA_SPAM_SUBJECT": ("SPAM_SUBJECT", "issue 13: a prefix dropped")},
    )
    return out


def main() -> int:
    corpus = Path(os.environ.get("ENVSYNC_CORPUS", "../shared/corpus"))
    print("source\tcase\tside\tkey\tvalue\trenamed_to\tevidence")
    for row in dify(corpus) + others(corpus):
        print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
