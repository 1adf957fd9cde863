"""Run the benchmark suite, print every figure, and keep the run.

    make bench          # the full suite (defaults of each script), writes bench/results/ and docs/performance.md
    make bench-quick    # a small version of each (CI-sized), writes bench/results/ only

Each script measures its own baseline or floor in the same run and prints its table; this runner starts them one
after another under one embedded PostgreSQL and Redis (`config.stack exec`, which the Make targets use), records
each script's command, exit code, time and output in `bench/results/<profile>-<UTC time>.json`, and for the full
profile replaces the generated section of docs/performance.md with this run's tables, its date and the machine.
Nothing here asserts a wall-clock threshold: a slow machine gives slower figures, not a failure. A script whose
tool is missing (wrk for the HTTP benches) is reported as skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DOC = ROOT / "docs" / "performance.md"
START, END = "<!-- make bench: start -->", "<!-- make bench: end -->"

# (name, script, quick arguments, full arguments, tools it needs)
SUITE: list[tuple[str, str, list[str], list[str], list[str]]] = [
    ("engine", "engine_bench.py", [], [], []),
    ("webhook ingest", "webhook_bench.py", ["--seconds", "1"], [], ["wrk"]),
    ("api", "api_bench.py", ["--seconds", "1"], [], ["wrk"]),
    ("pipeline", "pipeline_bench.py", ["--seconds", "1"], [], []),
    ("memory recall", "memory_bench.py", [], [], []),
    ("inbox reads", "inbox_bench.py", ["--conversations", "1000", "--samples", "30"], [], []),
    ("reports", "reports_bench.py", ["--conversations", "1000", "--samples", "30"], [], []),
    # the quick run leaves webhook -> DOM one at a time to the full run: the realtime bench measures it under load
    ("console", "console_bench.py", ["--samples", "4", "--skip-latency"], [], []),
    (
        "data growth and raw limits",
        "growth_bench.py",
        ["--steps", "200,500", "--samples", "5", "--raw", "300"],
        [],
        [],
    ),
    (
        "realtime and burst (production layout)",
        "realtime_bench.py",
        ["--only", "realtime", "--seconds", "1", "--customers", "20", "--floor-samples", "5", "--ai-wait", "1"],
        [],
        ["nginx"],
    ),
]


# The Celery worker some scripts start prints its banner on the shared stdout: not a figure.
_BANNER = re.compile(
    r"^\s*(-{2,}|- \*|\*{3,}|\.> |-- \*)|^ -+ \[|^worker: |^\s+\.> |^\s*$"
    # and migrate's progress (the production layout's first step)
    r"|^Operations to perform:|^  Apply all migrations:|^Running migrations:|^  Applying .+\.\.\. OK$|^  No migrations"
)


def clean(output: str) -> str:
    lines = output.splitlines()
    kept = [line for line in lines if not _BANNER.match(line)]
    return "\n".join(kept) + ("\n" if kept else "")


def machine() -> dict[str, object]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gb = None
    try:
        kb = int(
            next(ln for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal")).split()[1]
        )
        memory_gb = round(kb / 1024 / 1024, 1)
    except (OSError, StopIteration, ValueError):
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": memory_gb,
        "python": platform.python_version(),
        "system": platform.platform(),
    }


def run(profile: str, only: list[str]) -> dict[str, object]:
    started = datetime.now(UTC)
    results: list[dict[str, object]] = []
    # a fresh data folder's database is a copy of the migrated template (bench/common.py), not migrated again here
    sys.path.insert(0, str(ROOT / "bench"))
    from common import database_from_template

    url = os.environ["DATABASE_URL"]
    database_from_template(url, urlsplit(url).path.lstrip("/"), replace=False)
    for name, script, quick, full, tools in SUITE:
        if only and not any(o in name for o in only):
            continue
        args = quick if profile == "quick" else full
        command = [sys.executable, str(ROOT / "bench" / script), *args]
        print(f"\n=== {name}: {' '.join(['bench/' + script, *args])}", flush=True)
        missing = [tool for tool in tools if shutil.which(tool) is None]
        if missing:
            print(f"skipped: needs {', '.join(missing)} (apt-get install {' '.join(missing)})")
            results.append({"name": name, "command": command, "skipped": f"needs {', '.join(missing)}"})
            continue
        began = time.monotonic()
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)  # noqa: S603
        output = clean(done.stdout) + (f"\n[stderr]\n{done.stderr[-4000:]}" if done.returncode else "")
        print(output, end="" if output.endswith("\n") else "\n", flush=True)
        results.append(
            {
                "name": name,
                "command": command,
                "seconds": round(time.monotonic() - began, 1),
                "returncode": done.returncode,
                "output": clean(done.stdout),
            }
        )
    run_record = {
        "profile": profile,
        "started": started.isoformat(),
        "machine": machine(),
        "results": results,
        "seconds": round((datetime.now(UTC) - started).total_seconds(), 1),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{profile}-{started:%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(run_record, indent=2) + "\n", encoding="utf-8")
    print(f"\n{profile} suite: {run_record['seconds']} s; kept in {path.relative_to(ROOT)}")
    return run_record


def write_doc(record: dict[str, object]) -> None:
    """Replace the generated section of docs/performance.md with this run."""
    m = record["machine"]
    assert isinstance(m, dict)
    lines = [
        START,
        f"## The latest `make bench` ({str(record['started'])[:16].replace('T', ' ')} UTC)",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB, Python {m['python']}; the load generator,",
        "PostgreSQL and Redis on the same machine. Each table is the script's own output; every script measures its",
        f"baseline in the same run. The whole suite took {record['seconds']} s.",
        "",
    ]
    for result in record["results"]:  # type: ignore[attr-defined]
        lines.append(f"### {result['name']}")
        lines.append("")
        if "skipped" in result:
            lines.append(f"Skipped: {result['skipped']}.")
        else:
            lines += ["```", result["output"].rstrip(), "```"]
            if result["returncode"]:
                lines.append(f"(exited with {result['returncode']})")
        lines.append("")
    lines.append(END)
    text = DOC.read_text(encoding="utf-8")
    block = "\n".join(lines)
    if START in text and END in text:
        text = text[: text.index(START)] + block + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    DOC.write_text(text, encoding="utf-8")
    print("docs/performance.md: the generated section now holds this run")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", choices=["quick", "full"], default="quick")
    parser.add_argument("--only", action="append", default=[], help="run the scripts whose name contains this")
    parser.add_argument("--write-doc", metavar="RESULT_JSON", help="rewrite docs/performance.md from a kept run")
    args = parser.parse_args()
    if args.write_doc:
        record = json.loads(Path(args.write_doc).read_text(encoding="utf-8"))
        for result in record["results"]:
            result["output"] = clean(result.get("output", ""))
        write_doc(record)
        return
    record = run(args.profile, args.only)
    if args.profile == "full" and not args.only:
        write_doc(record)
    failed = [r["name"] for r in record["results"] if r.get("returncode")]  # type: ignore[attr-defined]
    if failed:
        print(f"failed: {', '.join(failed)}")
        raise SystemExit(1)


if __name__ == "__main__":
    main()
