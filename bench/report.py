"""The benchmark's table, growth factors, targets and import-time summary."""

from __future__ import annotations

import shutil
import statistics
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import cases
import interp

FLOOR = "python -c pass"
DIFY_SCRIPT = "dify-env-sync.sh"

TARGET_FLOOR_RATIO = 2.0
TARGET_CHECK_100K = 0.5
TARGET_FIX_100K = 1.0
TARGET_PEAK_MB = 100.0
TARGET_GROWTH = 11.0
#: modules whose import on the default check/fix path is reported
WATCHED = ("pydantic", "junit_xml", "dataclasses", "json", "xml", "tomllib", "difflib")


class Summary(NamedTuple):
    median_s: float  # wall time
    min_s: float
    max_s: float
    cpu_s: float  # median CPU time (user + system) of the process and its children
    peak_mb: float  # 10**6 bytes
    rc: tuple[int, ...]
    changed: bool  # the env file changed in every run
    runs: int

    @classmethod
    def of(cls, rows: list[dict[str, object]]) -> Summary:
        walls = [float(str(r["wall"])) for r in rows]
        cpus = [float(str(r.get("cpu", "nan"))) for r in rows]
        rss_kib = max(int(str(r["rss_kib"])) for r in rows)
        return cls(
            statistics.median(walls),
            min(walls),
            max(walls),
            statistics.median(cpus),
            rss_kib * 1024 / 1e6,
            tuple(sorted({int(str(r["rc"])) for r in rows})),
            all(bool(r["changed"]) for r in rows),
            len(rows),
        )


#: case name -> command label -> summary
Results = dict[str, dict[str, Summary]]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:10.1f}"


def table(results: Results, meta: dict[str, cases.Case]) -> list[str]:
    head = (
        f"{'case':<6}{'template keys/lines':>20}{'env keys/lines':>16}  {'command':<17}"
        f"{'median ms':>10}{'min ms':>10}{'max ms':>10}{'cpu ms':>10}{'peak MB':>9}"
        "  runs  exit  changed"
    )
    lines = [head, "-" * len(head)]
    for name, rows in results.items():
        c = meta.get(name)
        for n, (label, s) in enumerate(rows.items()):
            tpl = f"{c.template_keys}/{c.template_lines}" if c and n == 0 else ""
            env = f"{c.env_keys}/{c.env_lines}" if c and n == 0 else ""
            changed = "-" if label in ("check", FLOOR) else ("yes" if s.changed else "NO")
            lines.append(
                f"{name if n == 0 else '':<6}{tpl:>20}{env:>16}  {label:<17}"
                f"{_ms(s.median_s)}{_ms(s.min_s)}{_ms(s.max_s)}{_ms(s.cpu_s)}{s.peak_mb:9.1f}"
                f"  {s.runs:>4}  {','.join(map(str, s.rc)):<5} {changed}"
            )
    return lines


def growth(results: Results, sizes: Sequence[int], metric: str) -> tuple[list[str], list[float]]:
    """Lines, and the net-of-floor factors of each 10x step, for ``metric`` (a Summary field)."""
    floor = getattr(results["floor"][FLOOR], metric)
    lines: list[str] = []
    tens: list[float] = []
    labels = [cases.synthetic_label(n) for n in sizes]
    steps = list(zip(zip(sizes, labels), list(zip(sizes, labels))[1:]))
    for command in ("check", "fix"):
        whole, net = [], []
        for (a, la), (b, lb) in steps:
            ta = getattr(results[la][command], metric)
            tb = getattr(results[lb][command], metric)
            f_net = (tb - floor) / max(ta - floor, 1e-9)
            whole.append(f"{la}->{lb} x{tb / ta:.2f}")
            net.append(f"{la}->{lb} x{f_net:.2f}")
            if b == 10 * a:
                tens.append(f_net)
        if steps:
            lines.append(f"  {command:<5} whole process:          " + ", ".join(whole))
            lines.append(f"  {command:<5} net of python -c pass:  " + ", ".join(net))
    return lines, tens


def _verdicts(wall: bool, cpu: bool) -> str:
    def one(ok: bool) -> str:
        return "met    " if ok else "NOT MET"

    return f"wall [{one(wall)}] cpu [{one(cpu)}]"


def body(results: Results, all_cases: Sequence[cases.Case], sizes: Sequence[int]) -> list[str]:
    """Table, growth, floor ratio and targets (judged on wall time and on CPU time)."""
    lines = table(results, {c.name: c for c in all_cases})
    tens: dict[str, list[float]] = {}
    for metric, name in (("median_s", "wall"), ("cpu_s", "CPU")):
        g_lines, tens[metric] = growth(results, sizes, metric)
        if g_lines:
            lines += ["", f"growth of median {name} time (10x keys / x keys):", *g_lines]
    floor = results["floor"][FLOOR]
    d = results["dify"]

    def ratio(command: str, metric: str) -> float:
        return float(getattr(d[command], metric) / getattr(floor, metric))

    lines += [
        "",
        f"case dify vs the interpreter floor (python -c pass: {floor.median_s * 1000:.1f} ms wall, "
        f"{floor.cpu_s * 1000:.1f} ms CPU): check x{ratio('check', 'median_s'):.2f} wall, "
        f"x{ratio('check', 'cpu_s'):.2f} CPU; fix x{ratio('fix', 'median_s'):.2f} wall, "
        f"x{ratio('fix', 'cpu_s'):.2f} CPU (target: at most x{TARGET_FLOOR_RATIO:g})",
    ]
    if DIFY_SCRIPT in d:
        ds = d[DIFY_SCRIPT]
        lines.append(
            f"Dify's dify-env-sync.sh on the same pair: {ds.median_s * 1000:.1f} ms wall, "
            f"{ds.cpu_s * 1000:.1f} ms CPU; envsync check x{d['check'].median_s / ds.median_s:.2f} "
            f"of it (wall), fix x{d['fix'].median_s / ds.median_s:.2f}"
        )
    else:
        lines.append(
            "Dify's dify-env-sync.sh: not measured (set DIFY_ENV_SYNC=/path/to/dify-env-sync.sh)"
        )
    lines += ["", "targets (judged on the median wall time, and on the median CPU time):"]
    for command in ("check", "fix"):
        ok_w = ratio(command, "median_s") <= TARGET_FLOOR_RATIO
        ok_c = ratio(command, "cpu_s") <= TARGET_FLOOR_RATIO
        lines.append(f"  {_verdicts(ok_w, ok_c)} dify {command} within x2 of python -c pass")
    if DIFY_SCRIPT in d:
        for command in ("check", "fix"):
            ok_w = d[command].median_s <= d[DIFY_SCRIPT].median_s
            ok_c = d[command].cpu_s <= d[DIFY_SCRIPT].cpu_s
            lines.append(
                f"  {_verdicts(ok_w, ok_c)} dify {command} no slower than dify-env-sync.sh"
            )
    big = results.get(cases.synthetic_label(100_000))
    if big is not None:
        c, f = big["check"], big["fix"]
        lines.append(
            f"  {_verdicts(c.median_s < TARGET_CHECK_100K, c.cpu_s < TARGET_CHECK_100K)} "
            f"100k check under 0.5 s ({c.median_s:.3f} s wall, {c.cpu_s:.3f} s CPU)"
        )
        lines.append(
            f"  {_verdicts(f.median_s < TARGET_FIX_100K, f.cpu_s < TARGET_FIX_100K)} "
            f"100k fix under 1 s ({f.median_s:.3f} s wall, {f.cpu_s:.3f} s CPU)"
        )
        peak = max(c.peak_mb, f.peak_mb)
        ok = peak < TARGET_PEAK_MB
        lines.append(f"  {_verdicts(ok, ok)} 100k peak memory under 100 MB ({peak:.1f} MB)")
    if tens["median_s"]:
        worst_w, worst_c = max(tens["median_s"]), max(tens["cpu_s"])
        lines.append(
            f"  {_verdicts(worst_w <= TARGET_GROWTH, worst_c <= TARGET_GROWTH)} linear: 10x keys "
            f"-> at most x11 time, net of the floor (worst step x{worst_w:.2f} wall, "
            f"x{worst_c:.2f} CPU)"
        )
    return lines


def imports(it: interp.Interpreter, env: dict[str, str], dify_dir: Path) -> list[str]:
    """What ``--version``, ``check`` and ``fix`` import, from ``-X importtime``."""
    cwd = str(dify_dir)
    base = interp.run_importtime([it.python, "-c", "pass"], cwd, env)
    ver = interp.run_importtime([it.python, "-m", "envsync_hook", "--version"], cwd, env)
    at_start = {i.name for i in base}
    extra = [i for i in ver if i.name not in at_start]

    def ms(items: Sequence[interp.Imported]) -> str:
        return f"{sum(i.self_us for i in items) / 1000:.1f} ms"

    lines = [
        f"  -m envsync_hook --version: {ms(ver)} in {len(ver)} modules; "
        f"{ms(extra)} in {len(extra)} modules beyond python -c pass ({ms(base)}, {len(base)})",
        "  top modules by own time (ms): "
        + ", ".join(
            f"{i.name} {i.self_us / 1000:.1f}"
            for i in sorted(extra, key=lambda i: i.self_us, reverse=True)[:10]
        ),
        "  top-level imports, cumulative (ms): "
        + ", ".join(
            f"{i.name} {i.cumulative_us / 1000:.1f}"
            for i in sorted(
                (i for i in extra if i.depth == 0), key=lambda i: i.cumulative_us, reverse=True
            )[:6]
        ),
    ]
    for command in ("check", "fix"):
        work = Path(tempfile.mkdtemp(prefix="envsync-imports-"))
        try:  # a fresh copy, so that fix has something to change
            for name in (".env.example", ".env"):
                shutil.copyfile(dify_dir / name, work / name)
            run = interp.run_importtime(
                [it.python, "-m", "envsync_hook", command], str(work), env, 1, warmup=False
            )
        finally:
            shutil.rmtree(work, ignore_errors=True)
        tops = {i.name.split(".")[0] for i in run}
        seen = [w for w in WATCHED if w in tops]
        absent = [w for w in WATCHED if w not in tops]
        lines.append(
            f"  {command} on case dify (text output, no config): {ms(run)} in {len(run)} "
            f"modules; imported: {', '.join(seen) or '-'}; not imported: {', '.join(absent)}"
        )
        if "pydantic" in tops or "junit_xml" in tops:
            lines.append(f"  !! pydantic or junit_xml is imported on the default {command} path")
    return lines
