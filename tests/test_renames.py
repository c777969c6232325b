"""ENV009 rename hints measured on real data: ``tests/data/renames.tsv`` (built by
``tests/data/make_renames.py`` from Dify's template history, its releases, sentry, n8n and
plausible) lists, per case, the keys that left a template and those that arrived, each departed
key labelled with the key it was really renamed to (or none). The hint logic runs over every
case; precision and recall are printed in the run's summary and must hold."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from random import Random

import pytest
from cli_run import run
from conftest import SUMMARY
from hypothesis import given
from hypothesis import strategies as st

from envsync_hook.renames import looks_renamed, rename_pairs

TABLE = Path(__file__).parent / "data" / "renames.tsv"


def _unescape(value: str) -> str:
    out, i = [], 0
    while i < len(value):
        c = value[i]
        if c == "\\" and i + 1 < len(value):
            out.append({"t": "\t", "n": "\n", "\\": "\\"}[value[i + 1]])
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def load() -> dict[tuple[str, str], dict[str, list[tuple[str, str, str]]]]:
    """(source, case) -> {"-": [(key, value, renamed_to)], "+": [(key, value, "")]}."""
    cases: dict[tuple[str, str], dict[str, list[tuple[str, str, str]]]] = defaultdict(
        lambda: {"-": [], "+": []}
    )
    lines = TABLE.read_text("utf-8").splitlines()
    assert lines[0].split("\t") == [
        "source", "case", "side", "key", "value", "renamed_to", "evidence"
    ]  # fmt: skip
    for line in lines[1:]:
        source, case, side, key, value, to, evidence = line.split("\t")
        assert side in "-+" and (not to or evidence), line
        cases[(source, case)][side].append((key, _unescape(value), to))
    return cases


def test_rename_hints_precision_and_recall() -> None:
    cases = load()
    truth = hits = claimed = 0
    wrong: list[str] = []
    missed: list[str] = []
    for (source, case), sides in cases.items():
        renamed = {k: to for k, _, to in sides["-"] if to}
        found = rename_pairs(
            [(k, [v]) for k, v, _ in sides["-"]], [(k, v) for k, v, _ in sides["+"]]
        )
        truth += len(renamed)
        claimed += len(found)
        for r in found:
            if renamed.get(r.old) == r.new:
                hits += 1
            else:
                wrong.append(f"{source} {case}: {r.old} -> {r.new} ({r.why})")
        got = {r.old: r.new for r in found}
        missed += [f"{source} {case}: {k} -> {to}" for k, to in renamed.items() if got.get(k) != to]
    pairs = sum(len(s["-"]) * len(s["+"]) for s in cases.values())
    precision = hits / claimed if claimed else 1.0
    recall = hits / truth
    SUMMARY.append(
        f"rename hints (ENV009) on {len(cases)} real cases, {pairs} (departed, arrived) pairs, "
        f"{truth} labelled renames: {claimed} hints, {hits} right: "
        f"precision {precision:.3f}, recall {recall:.3f}"
    )
    assert precision >= 0.95, "\n".join(wrong)
    assert recall >= 0.6, "\n".join(missed)


# the cases, one pair at a time: (old, new, same informative value, a rename?)
PAIRS = [
    ("SA_SPAM_SUBJECT", "SPAM_SUBJECT", False, True),
    ("HTTP_PORT", "SSRF_HTTP_PORT", False, True),
    ("RESET_PASSWORD_TOKEN_EXPIRY_HOURS", "RESET_PASSWORD_TOKEN_EXPIRY_MINUTES", False, True),
    ("VIKINGDB_SCHEMA", "VIKINGDB_SCHEME", False, True),
    ("_APP_FUNCTIONS_TIMEOUT", "_APP_COMPUTE_TIMEOUT", False, True),
    ("QDRANT_API_KEY", "AMPLITUDE_API_KEY", False, False),
    ("SENDGRID_API_KEY", "AMPLITUDE_API_KEY", False, False),
    ("VIKINGDB_SOCKET_TIMEOUT", "REDIS_SOCKET_TIMEOUT", False, False),
    ("PORT", "NGINX_PORT", False, False),
    ("OPENDAL_S3_REGION", "OCI_REGION", False, False),
]


@pytest.mark.parametrize(("old", "new", "same", "expected"), PAIRS)
def test_looks_renamed(old: str, new: str, same: bool, expected: bool) -> None:
    assert looks_renamed(old, new, same) is expected


def test_one_arrival_claimed_by_several_departures_gives_no_hint() -> None:
    departed = [(k, [""]) for k in ("QDRANT_API_KEY", "SENDGRID_API_KEY", "OTLP_API_KEY")]
    assert rename_pairs(departed, [("AMPLITUDE_API_KEY", "")]) == []
    merged = [
        ("MULTIMODAL_SEND_IMAGE_FORMAT", ["base64"]),
        ("MULTIMODAL_SEND_VIDEO_FORMAT", ["base64"]),
    ]
    assert rename_pairs(merged, [("MULTIMODAL_SEND_FORMAT", "base64")]) == []


def test_dify_upgrade_without_the_template_set_has_no_wrong_hint(
    tmp_path: Path, corpus: Path
) -> None:
    """Dify 1.10.0 -> 1.14.1 seen through the main template alone (--no-discover): hundreds of
    keys moved to other files; none of them 'looks renamed' to AMPLITUDE_API_KEY any more."""
    (tmp_path / ".env.example").write_bytes(
        (corpus / "dify/1.14.1/docker/.env.example").read_bytes()
    )
    (tmp_path / ".env").write_bytes((corpus / "dify/1.10.0/docker/.env.example").read_bytes())
    proc = run(tmp_path, "check", "--no-discover", "--format", "json")
    assert proc.returncode == 1, proc.stderr
    import json

    hints = [
        f for p in json.loads(proc.stdout)["pairs"] for f in p["findings"] if f["code"] == "ENV009"
    ]
    assert not [f for f in hints if "AMPLITUDE_API_KEY" in f["message"]], hints
    assert len(hints) <= 2, hints


_WORD = st.sampled_from(["API", "KEY", "REDIS", "URL", "DB", "HOST", "SSRF", "PORT", "MAX", "X"])
_NAME = st.lists(_WORD, min_size=1, max_size=4).map("_".join)
_VALUE = st.sampled_from(["", "1", "true", "http://a:1/b", "/srv/data", "your-key", "base64"])


@given(
    st.lists(st.tuples(_NAME, _VALUE), max_size=12, unique_by=lambda kv: kv[0]),
    st.lists(st.tuples(_NAME, _VALUE), max_size=12, unique_by=lambda kv: kv[0]),
    st.randoms(use_true_random=False),
)
def test_hints_are_one_to_one_and_do_not_depend_on_order(
    left: list[tuple[str, str]], came: list[tuple[str, str]], rnd: Random
) -> None:
    came = [kv for kv in came if kv[0] not in {k for k, _ in left}]
    departed = [(k, [v]) for k, v in left]
    found = rename_pairs(departed, came)
    olds, news = [r.old for r in found], [r.new for r in found]
    assert len(set(olds)) == len(olds) and len(set(news)) == len(news)
    assert set(olds) <= {k for k, _ in left} and set(news) <= {k for k, _ in came}
    rnd.shuffle(departed)
    rnd.shuffle(came)
    assert set(rename_pairs(departed, came)) == set(found)


def _long(words: int, salt: str) -> str:
    return "_".join(f"{salt}{i}" for i in range(words))


@pytest.mark.parametrize(
    ("old", "new", "old_value", "new_value", "hint"),
    [
        # names of real length: the stem (one word added at the end) is evidence
        (_long(9, "W"), _long(9, "W") + "_NEW", "1", "2", "similar name"),
        (_long(15, "W"), _long(15, "W") + "_NEW", "1", "2", "similar name"),  # (16 words)
        # beyond a plausible name's length: the value alone (a specific one) still tells
        (_long(40, "W"), _long(40, "W") + "_NEW", "/srv/data/x", "/srv/data/x", "same value"),
        # ... and a name alone does not
        (_long(40, "W"), _long(40, "W") + "_NEW", "1", "2", None),
    ],
)
def test_long_names(old: str, new: str, old_value: str, new_value: str, hint: str | None) -> None:
    found = rename_pairs([(old, [old_value])], [(new, new_value)])
    assert [r.why for r in found] == ([hint] if hint else [])


@given(
    st.lists(st.lists(_WORD, min_size=1, max_size=5), max_size=8, unique_by=tuple),
    st.lists(st.lists(_WORD, min_size=1, max_size=5), max_size=8, unique_by=tuple),
)
def test_candidates_hold_every_pair_the_names_relate(
    left: list[list[str]], came: list[list[str]]
) -> None:
    """The indexes (and the names they skip: those that share no end word with a name on the
    other side) lose no pair :func:`renames._relate` relates: with fewer names than a bucket
    holds, every related pair is a candidate (keys are unique, and so are their words)."""
    from envsync_hook import renames

    words_old = [tuple(w) for w in left]
    words_new = [tuple(w) for w in came]
    departed = [("_".join(w), ["1"]) for w in words_old]
    candidates = renames._candidates(departed, words_old, words_new, {})
    for di, old in enumerate(words_old):
        for at, new in enumerate(words_new):
            if renames._relate(old, new, False) is not None:
                assert at in candidates[di], (old, new)


def test_rename_work_is_linear_in_the_names_length(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stems looked up per name are bounded whatever its length (2,000 names of 150-200
    words took 15 s when every name's blocks were cut out of it)."""
    import envsync_hook.renames as renames

    blocks: list[int] = []
    real = renames._blocks

    def counting(n: int) -> list[tuple[int, int]]:
        found = real(n)
        blocks.append(len(found) * n)  # (each block builds a stem of about n words)
        return found

    monkeypatch.setattr(renames, "_blocks", counting)
    departed = [(_long(200, f"A{k}_"), [f"v{k}"]) for k in range(50)]
    arrived = [(_long(200, f"A{k}_") + "_NEW", f"w{k}") for k in range(50)]
    rename_pairs(departed, arrived)
    assert sum(blocks) <= 100 * 2 * 16 * 16
