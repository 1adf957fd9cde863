"""API serving benchmark in the production layout: gunicorn (2 sync workers) on the embedded Postgres + Redis,
load from wrk (32 connections) on loopback.

    .venv/bin/python -m config.stack exec -- .venv/bin/python bench/api_bench.py [--seconds 10]

Prints requests/s and latency for each endpoint, and its ratio against the baseline measured in the same run:
an unauthenticated API request (DRF answers 401 without touching the database), the floor of any API call.
Needs `wrk` (Debian package `wrk`).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import time

from common import gunicorn, production_settings

production_settings()


def prepare() -> tuple[int, str]:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", "--noinput", verbosity=0)
    from accounts.models import Account, Membership, User
    from accounts.services import account_create, api_token_create

    owner = User.objects.filter(email="bench-admin@example.com").first() or User.objects.create_user(
        email="bench-admin@example.com", password=None
    )
    account = Account.objects.filter(name="Bench account").first() or account_create(name="Bench account", owner=owner)
    for n in range(25 - Membership.objects.filter(account=account).count()):
        user = User.objects.create_user(email=f"bench-agent-{time.time_ns()}-{n}@example.com", password=None)
        Membership.objects.create(account=account, user=user)
    _token, plaintext = api_token_create(account=account, user=owner, name=f"bench {time.time_ns()}")
    return account.pk, plaintext


def wrk(url: str, seconds: int, token: str | None) -> dict[str, float]:
    cmd = ["wrk", "-t2", "-c32", f"-d{seconds}s", "--latency", url]
    if token:
        cmd[1:1] = ["-H", f"Authorization: Token {token}"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout  # noqa: S603
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)

    def ms(label: str) -> float:
        value, unit = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    return {"rps": rps, "p50": ms("50%"), "p99": ms("99%"), "non2xx": float(non2xx.group(1)) if non2xx else 0.0}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install wrk")
    account_id, token = prepare()
    with gunicorn() as base:
        cases = [
            ("baseline: GET /api/v1/me without credentials (401)", f"{base}/api/v1/me", None, True),
            ("GET /api/v1/me (token)", f"{base}/api/v1/me", token, False),
            ("GET /api/v1/accounts/<id> (token)", f"{base}/api/v1/accounts/{account_id}", token, False),
            (
                "GET /api/v1/accounts/<id>/members, 25 rows (token)",
                f"{base}/api/v1/accounts/{account_id}/members",
                token,
                False,
            ),
        ]
        for _name, url, tok, _expect_error in cases:  # warm up every worker's connection and imports
            wrk(url, max(1, min(2, args.seconds // 2)), tok)  # 1 s in the quick run
        results = []
        for name, url, tok, expect_error in cases:
            result = wrk(url, args.seconds, tok)
            if not expect_error and result["non2xx"]:
                raise SystemExit(f"{name}: {int(result['non2xx'])} error responses")
            results.append((name, result))
        baseline = results[0][1]["rps"]
        print(f"gunicorn 2 sync workers, wrk -t2 -c32 -d{args.seconds}s, {os.cpu_count()} cores")
        print(f"{'endpoint':<55} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'vs baseline':>12}")
        for name, r in results:
            print(f"{name:<55} {r['rps']:>8.0f} {r['p50']:>8.2f} {r['p99']:>8.2f} {r['rps'] / baseline:>11.2f}x")


if __name__ == "__main__":
    main()
