"""Twilio messaging webhook throughput in the production layout (gunicorn, 2 sync workers), against two
baselines on the same server in the same run: a bare Django view, and the durable-acknowledgement floor (one
INSERT and one Redis LPUSH). wrk with 32 connections; every webhook request is a distinct message, signed as
Twilio signs it.

    CONTINUUM_VAR_DIR=var/bench .venv/bin/python -m config.stack exec -- .venv/bin/python bench/webhook_bench.py

Needs `wrk` (apt-get install wrk). Target: at least 0.7 of the floor's throughput, p99 under 50 ms.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlencode

from common import gunicorn, production_settings

production_settings()
os.environ["ROOT_URLCONF"] = "bench_urls"
os.environ["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parent), os.environ.get("PYTHONPATH", "")])
sys.path.insert(0, str(Path(__file__).resolve().parent))

TOKEN = "bench-twilio-token"  # noqa: S105 - a benchmark's own throwaway token
REQUESTS = 60_000


def wrk(url: str, seconds: int, script: str | None = None) -> dict[str, float]:
    cmd = ["wrk", "-t2", "-c32", f"-d{seconds}s", "--latency", url]
    if script:
        cmd[1:1] = ["-s", script]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout  # noqa: S603
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)

    def ms(label: str) -> float:
        value, unit = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    return {"rps": rps, "p50": ms("50%"), "p99": ms("99%"), "errors": float(errors.group(1)) if errors else 0.0}


def lua_for(bodies: list[tuple[str, str]], path: str) -> str:
    """A wrk script that posts each pre-signed body once, in turn."""
    rows = ",\n".join(f'{{"{sig}", "{body}"}}' for sig, body in bodies)
    return f"""
local requests = {{
{rows}
}}
local i = 0
request = function()
  i = (i % #requests) + 1
  local r = requests[i]
  return wrk.format("POST", "{path}", {{["Content-Type"] = "application/x-www-form-urlencoded",
                                         ["X-Twilio-Signature"] = r[1]}}, r[2])
end
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from twilio.request_validator import RequestValidator

    from accounts.models import Account, User
    from accounts.services import account_create
    from channels_app.adapters.twilio import webhook_url
    from channels_app.credentials import credentials_encrypt
    from channels_app.models import ChannelEndpoint
    from inbox.models import Inbox

    call_command("migrate", "--noinput", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_floor (id bigserial PRIMARY KEY, body text)")
    account = Account.objects.filter(name="Webhook (benchmark)").first()
    if account is None:
        owner = User.objects.create_user(email=f"webhook-bench-{os.getpid()}@example.com", password=None)
        account = account_create(name="Webhook (benchmark)", owner=owner)
    if not ChannelEndpoint.objects.filter(account=account).exists():
        inbox, _ = Inbox.objects.get_or_create(account=account, name="Support")
        ChannelEndpoint.objects.create(
            account=account,
            inbox=inbox,
            kind="sms",
            address="+13125550100",
            credentials_encrypted=credentials_encrypt({"account_sid": "AC" + "0" * 32, "auth_token": TOKEN}),
        )
    endpoint = ChannelEndpoint.objects.get(account=account)
    validator = RequestValidator(TOKEN)
    run_id = os.urandom(4).hex()
    bodies = []
    for n in range(REQUESTS):
        params = {
            "MessageSid": f"SM{run_id}{n:024d}",
            "From": f"+1312555{n % 10000:04d}",
            "To": "+13125550100",
            "Body": f"Benchmark message {n}",
            "NumMedia": "0",
        }
        bodies.append((validator.compute_signature(webhook_url(endpoint, "messaging"), params), urlencode(params)))
    with gunicorn() as base, tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        path = webhook_url(endpoint, "messaging").removeprefix(settings.PUBLIC_BASE_URL.rstrip("/"))
        lua.write(lua_for(bodies, path))
        lua.flush()
        floor_lua = lua.name + ".floor.lua"
        Path(floor_lua).write_text(
            'wrk.method = "POST"\nwrk.body = "MessageSid=SMx&Body=hello"\n'
            'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n'
        )
        cases = [
            ("baseline: bare Django view", f"{base}/bench/bare", None),
            ("floor: one INSERT + one LPUSH", f"{base}/bench/floor", floor_lua),
            ("Twilio messaging webhook (signed, stored, enqueued)", f"{base}{path}", lua.name),
        ]
        for _name, url, script in cases:  # warm-up
            wrk(url, max(1, min(2, args.seconds // 2)), script)  # 1 s in the quick run
        results = [(name, wrk(url, args.seconds, script)) for name, url, script in cases]
    floor = results[1][1]["rps"]
    print(f"gunicorn 2 sync workers, wrk -t2 -c32 -d{args.seconds}s, {os.cpu_count()} cores")
    print(f"{'endpoint':<52} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'vs floor':>9} {'errors':>7}")
    for name, r in results:
        print(
            f"{name:<52} {r['rps']:>8.0f} {r['p50']:>8.2f} {r['p99']:>8.2f} {r['rps'] / floor:>8.2f}x "
            f"{int(r['errors']):>7}"
        )


if __name__ == "__main__":
    main()
