"""Soak test of `rag serve`: steady load for a bounded time, then what held and what grew.

Starts `rag serve` (two workers, the index at --index) on a free loopback port, and sends a mix
of French and English questions in every mode, GET and POST, plus a share of requests the API
must refuse (empty, too long, unknown mode), from --concurrency keep-alive connections, until
--seconds have passed or --max-requests were sent. It reports requests/s, p50/p99 latency,
unexpected answers (an error is any status other than the expected one, or a failed
connection), and each worker's resident memory (RSS) at the start and at the end.

Run: .venv/bin/python eval/soak.py [--index index] [--seconds 600] [--concurrency 16]
Traffic goes only to the server it starts, on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from collections import Counter
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from bench_http import QUESTIONS, percentile, start_server

MODES = ("hybrid", "dense", "bm25")


def requests(rng: random.Random) -> tuple[str, str, dict, int]:
    """One request as (method, path, httpx arguments, expected status)."""
    roll = rng.random()
    if roll < 0.05:
        return "GET", "/search", {"params": {"q": " "}}, 422
    if roll < 0.08:
        return "POST", "/search", {"json": {"query": "x" * 1001}}, 422
    if roll < 0.10:
        return "GET", "/search", {"params": {"q": "maire", "mode": "magic"}}, 422
    question, mode, k = rng.choice(QUESTIONS), rng.choice(MODES), rng.randint(1, 10)
    if roll < 0.55:
        return "GET", "/search", {"params": {"q": question, "mode": mode, "k": k}}, 200
    if roll < 0.95:
        return "POST", "/search", {"json": {"query": question, "mode": mode, "k": k}}, 200
    return "POST", "/context", {"json": {"query": question, "k": k, "max_chars": 2000}}, 200


def worker_rss(pid: int) -> dict[int, int]:
    """Resident memory in MB of each child process (worker) of `pid`."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    rss = {}
    for child in map(int, children):
        for line in Path(f"/proc/{child}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss[child] = int(line.split()[1]) // 1024
    return rss


async def connection(
    url: str, deadline: float, budget: list[int], seed: int, latencies: list[float], errors: Counter
) -> None:
    rng = random.Random(seed)
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        while time.perf_counter() < deadline and budget[0] > 0:
            budget[0] -= 1
            method, path, kwargs, expected = requests(rng)
            started = time.perf_counter()
            try:
                response = await client.request(method, path, **kwargs)
                status = response.status_code
            except httpx.HTTPError as exc:
                errors[type(exc).__name__] += 1
                continue
            latencies.append(time.perf_counter() - started)
            if status != expected:
                errors[f"{method} {path} {status} (expected {expected})"] += 1


async def soak(url: str, seconds: float, concurrency: int, max_requests: int) -> tuple:
    latencies: list[float] = []
    errors: Counter = Counter()
    budget = [max_requests]
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()
    await asyncio.gather(
        *(connection(url, deadline, budget, i, latencies, errors) for i in range(concurrency))
    )
    return latencies, errors, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index", type=Path, default=Path("index"))
    parser.add_argument("--seconds", type=float, default=60.0, help="at most 3600")
    parser.add_argument("--concurrency", type=int, default=16, help="at most 256")
    parser.add_argument("--max-requests", type=int, default=2_000_000)
    args = parser.parse_args()
    seconds, concurrency = min(args.seconds, 3600.0), min(args.concurrency, 256)

    served, host, port = start_server(args.index, workers=2)
    url = f"http://{host}:{port}"
    try:
        asyncio.run(soak(url, 3.0, 4, 10_000))  # warm-up
        before = worker_rss(served.proc.pid)
        latencies, errors, took = asyncio.run(soak(url, seconds, concurrency, args.max_requests))
        after = worker_rss(served.proc.pid)
    finally:
        code = served.close()
    sent = len(latencies) + sum(v for k, v in errors.items() if "expected" not in k)
    print(
        f"{sent} requests in {took:.0f} s at concurrency {concurrency}: "
        f"{sent / took:.0f} requests/s"
    )
    print(
        f"latency p50 {percentile(latencies, 0.5) * 1000:.1f} ms, "
        f"p99 {percentile(latencies, 0.99) * 1000:.1f} ms"
    )
    print(f"errors: {sum(errors.values())}" + "".join(f"\n  {n} × {e}" for e, n in errors.items()))
    for pid in sorted(before):
        print(f"worker {pid}: RSS {before[pid]} MB at start, {after.get(pid, 0)} MB at the end")
    print(f"server exit code after SIGTERM: {code}")


if __name__ == "__main__":
    main()
