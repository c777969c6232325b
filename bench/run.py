"""envsync-hook benchmark: ``python bench/run.py [--runs N] [--profile]``.

Builds the cases (see ``cases.py``), then measures ``envsync check`` and ``envsync fix`` as whole
processes, each run in a fresh wrapper process (``measure.py``) on a fresh copy of the files:
median wall time of N runs (after one warm-up run) and peak memory. The runs of one case are
interleaved (floor, check, fix, Dify's script, floor, check, ...) so that a change in machine
load hits all of them alike. Prints a table and writes it, with the raw figures as JSON, to
``bench/out/`` (git-ignored).

Dify's ``docker/dify-env-sync.sh`` is measured on case (a) when ``DIFY_ENV_SYNC`` (or
``--dify-script``) names a copy of it: the harness copies the two files into a temp directory as
``.env.example`` and ``.env``, as the script expects, and runs ``bash SCRIPT`` there.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import cases
import interp
import profiling
import report
import shapes
from report import FLOOR, Results, Summary

HERE = Path(__file__).resolve().parent
MEASURE = HERE / "measure.py"

Spec = dict[str, object]


def child_env() -> dict[str, str]:
    """A small, fixed environment: no PYTHON* variables, no CI variables, no colour."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "NO_COLOR": "1"}
    for name in ("HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT"):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


def run_once(spec: Spec) -> dict[str, object]:
    """One measurement, in a fresh wrapper process (``python -S bench/measure.py``)."""
    proc = subprocess.run(
        [sys.executable, "-S", str(MEASURE), json.dumps(spec)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, object] = json.loads(proc.stdout)
    if result["error"]:
        raise SystemExit(f"bench: {spec['argv']} crashed:\n{result['error']}")
    return result


def measure_group(
    specs: dict[str, Spec], runs: int, progress: str, budget: float
) -> dict[str, Summary]:
    """Interleave the specs' runs; the first round is a warm-up and is dropped.

    When the warm-up round takes longer than ``budget`` seconds, one round is measured, not
    ``runs`` (the table's ``runs`` column says so).
    """
    rows: dict[str, list[dict[str, object]]] = {label: [] for label in specs}
    r = 0
    while r <= runs:
        print(f"\r  {progress}: round {r}/{runs}", end="", file=sys.stderr, flush=True)
        spent = 0.0
        for label, spec in specs.items():
            res = run_once(spec)
            spent += float(str(res["wall"]))
            if r:
                rows[label].append(res)
        if r == 0 and spent > budget and runs > 1:
            print(f" (warm-up took {spent:.0f} s: measuring 1 round)", end="", file=sys.stderr)
            runs = 1
        r += 1
    print(file=sys.stderr)
    return {label: Summary.of(rs) for label, rs in rows.items()}


def specs_for(
    case: cases.Case, it: interp.Interpreter, env: dict[str, str], tmp: str | None
) -> dict[str, Spec]:
    files = {name: str(case.directory / name) for name in (".env.example", ".env")}
    base: Spec = {"env": env, "files": files, "tmp": tmp, "watch": ".env"}
    return {
        "check": {**base, "argv": [*it.envsync, "check"]},
        "fix": {**base, "argv": [*it.envsync, "fix"]},
    }


def _history_rows(
    root: Path, it: interp.Interpreter, env: dict[str, str], args: argparse.Namespace
) -> list[str]:
    """What inferring the base from git history adds to a check: plain ``check`` (base from
    Dify's 244 template revisions) against ``check --no-base``, in the same clone."""
    docker = cases.dify_history_case(root)
    if docker is None:
        return ["", "base from git history: skipped (needs git and $ENVSYNC_CORPUS)"]
    spec: Spec = {"env": env, "files": {}, "tmp": args.tmp, "watch": ".env", "cwd": str(docker)}
    specs: dict[str, Spec] = {
        "check": {**spec, "argv": [*it.envsync, "check"]},
        "check --no-base": {**spec, "argv": [*it.envsync, "check", "--no-base"]},
    }
    got = measure_group(specs, args.runs, "case dify-history", args.budget)
    plain, two_way = got["check"], got["check --no-base"]
    return [
        "",
        "base from git history (Dify .env of 1.10.0, customised, in a clone of the template's",
        "244 revisions at 1.14.1; median wall / CPU seconds):",
        f"  check (infers the base)  {plain.median_s:.3f} s / {plain.cpu_s:.3f} s",
        f"  check --no-base          {two_way.median_s:.3f} s / {two_way.cpu_s:.3f} s",
        f"  added by inference       {plain.median_s - two_way.median_s:.3f} s / "
        f"{plain.cpu_s - two_way.cpu_s:.3f} s (budget 0.5 s)",
    ]


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python bench/run.py", description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=7, help="measured runs per command (default 7)")
    p.add_argument("--sizes", default="1000,10000,100000", help="synthetic key counts")
    p.add_argument("--out", default=str(HERE / "out"), help="output directory (bench/out)")
    p.add_argument("--python", help="measure this interpreter (-m envsync_hook), not the venv")
    p.add_argument(
        "--repo",
        type=Path,
        default=interp.REPO,
        help="measure the envsync_hook of this checkout (e.g. a git worktree of an older commit)",
    )
    p.add_argument("--dify-script", default=os.environ.get("DIFY_ENV_SYNC"), help="its path")
    p.add_argument("--tmp", default=None, help="directory for the per-run copies (system temp)")
    p.add_argument("--profile", action="store_true", help="cProfile the largest case")
    p.add_argument("--no-imports", action="store_true", help="skip the -X importtime report")
    p.add_argument(
        "--no-shapes", action="store_true", help="skip the parser timings on unusual input"
    )
    p.add_argument(
        "--budget",
        type=float,
        default=60.0,
        help="seconds: a case whose warm-up round takes longer is measured once (default 60)",
    )
    p.add_argument("--label", default="", help="a note for the header (e.g. before, after)")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    it = interp.current(args.python) if args.python else interp.bench_venv(out, args.repo)
    env = child_env()
    load_start = _load()

    print("building cases ...", file=sys.stderr)
    root = out / "cases"
    dify = cases.dify_case(root)
    synth = [cases.synthetic_case(root, n) for n in sizes]

    specs: dict[str, Spec] = {
        FLOOR: {"argv": [it.python, "-c", "pass"], "env": env, "tmp": args.tmp},
        **specs_for(dify, it, env, args.tmp),
    }
    if args.dify_script:
        script = os.path.abspath(args.dify_script)
        specs[report.DIFY_SCRIPT] = {**specs["fix"], "argv": ["/bin/bash", script]}
    results: Results = {}
    measured = measure_group(specs, args.runs, "case dify", args.budget)
    results["floor"] = {FLOOR: measured.pop(FLOOR)}
    results[dify.name] = measured
    history_lines = _history_rows(root, it, env, args)
    for c in synth:
        group = specs_for(c, it, env, args.tmp)
        results[c.name] = measure_group(group, args.runs, f"case {c.name}", args.budget)

    lines = [
        f"envsync-hook bench {args.label}".rstrip()
        + f" - {time.strftime('%Y-%m-%d %H:%M')} - {interp.version_of(it.python)} on "
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
        f"median of {args.runs} runs (+1 warm-up); load average at start {load_start}, "
        f"at end {_load()}",
        f"interpreter: {it.description}",
        f"case dify: {dify.source}",
        "",
    ]
    lines += report.body(results, [dify, *synth], sizes)
    lines += history_lines
    if not args.no_imports:
        lines += ["", "import time (-X importtime; --version: median of 5 runs by total):"]
        lines += report.imports(it, env, dify.directory)
    if not args.no_shapes:
        lines += ["", "parser on unusual input (in-process, best of 3):"]
        generated = {
            f"generated {c.name} template": str(c.directory / ".env.example") for c in synth[-1:]
        }
        lines += shapes.measure(it, env, generated)
        lines += ["", "hostile input (issue 14), whole processes, best of 3, two sizes each:"]
        lines += shapes.measure_hostile(it, env)
    if args.profile and synth:
        biggest = synth[-1]
        for command in ("check", "fix"):
            lines += ["", f"cProfile of envsync {command} on case {biggest.name} (see {out}):"]
            lines.append(profiling.profile(it.python, biggest, command, env, out))

    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out / f"bench-{stamp}.txt").write_text(text, encoding="utf-8")
    (out / "latest.txt").write_text(text, encoding="utf-8")
    raw = {case: {k: s._asdict() for k, s in rows.items()} for case, rows in results.items()}
    (out / f"bench-{stamp}.json").write_text(
        json.dumps({"label": args.label, "results": raw}, indent=2), encoding="utf-8"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
