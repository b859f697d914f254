"""Load benchmark of the HTTP API against in-process search.

Starts `rag serve` on a free loopback port, sends a mix of French and English questions at
concurrency 1, 4 and 16 over keep-alive connections, and prints p50/p99 latency and requests per
second. It also times the same questions in process, so the HTTP overhead shows as a difference
and the throughput as a ratio to what the machine's cores could do:

    capacity = cores / (in-process CPU time per query)

Run: .venv/bin/python eval/bench_http.py [--index index] [--seconds 10] [--mode hybrid]
     .venv/bin/python eval/bench_http.py --metrics-cost   (p50 with RAG_METRICS off and on)
The load generator is a few lines of asyncio over raw sockets, so that it costs the server's
two cores as little as possible; numbers are medians over the run, never assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import time
from pathlib import Path
from urllib.parse import quote, urlsplit

from serving import Served

QUESTIONS = [
    "Qui est le maire de Hangzhou ?",
    "Who is the mayor of Hangzhou?",
    "Quand l'Association internationale des maires francophones a-t-elle été créée ?",
    "When was the international association of French-speaking mayors founded?",
    "Qui a inauguré la formation en diplomatie des villes à Tunis ?",
    "Which cities took part in the city diplomacy training?",
    "Où s'est tenu le Sommet international du numérique ?",
    "What did the ICESCO meeting of September 2021 decide?",
    "Combien de représentants ont participé au Conseil mondial de CGLU ?",
    "What are the priorities of the South-East Asian member cities for 2023?",
    "Pourquoi les villes doivent-elles se saisir des enjeux du numérique ?",
    "Who presented the 2017 Smart Cities Study?",
    "villes intelligentes et résilientes",
    "digital transition of African cities",
    "Quel festival des cultures numériques à Namur ?",
    "Why does social cohesion matter for economic development according to the mayor of Bilbao?",
]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def in_process(index_dir: Path, mode: str, rounds: int) -> tuple[float, float]:
    """Median wall time and mean CPU time per query, in ms, of search() in this process."""
    from rag.config import Settings
    from rag.index.loading import load_index
    from rag.retrieval.search import search

    settings = Settings(index_dir=index_dir)
    index = load_index(index_dir, settings)
    for q in QUESTIONS:
        search(index, q, 5, mode)
    walls = []
    cpu0 = time.process_time()
    for _ in range(rounds):
        for q in QUESTIONS:
            t = time.perf_counter()
            search(index, q, 5, mode)
            walls.append(time.perf_counter() - t)
    cpu = (time.process_time() - cpu0) / (rounds * len(QUESTIONS))
    return statistics.median(walls) * 1000, cpu * 1000


async def _worker(
    host: str, port: int, paths: list[str], deadline: float, latencies: list[float], offset: int
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    i = offset
    try:
        while time.perf_counter() < deadline:
            path = paths[i % len(paths)]
            i += 1
            t = time.perf_counter()
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"content-length: (\d+)", head, re.I).group(1))  # type: ignore[union-attr]
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - t)
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(head.decode())
    finally:
        writer.close()


async def load(host: str, port: int, mode: str, concurrency: int, seconds: float) -> list[float]:
    paths = [f"/search?q={quote(q)}&k=5&mode={mode}" for q in QUESTIONS]
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    await asyncio.gather(
        *(_worker(host, port, paths, deadline, latencies, c * 3) for c in range(concurrency))
    )
    return latencies


def start_server(index_dir: Path, workers: int, **env: str) -> tuple[Served, str, int]:
    """`rag serve` of `index_dir`, ready (see `serving`), with its host and port; requests are
    not logged, so that the log costs the benchmark nothing."""
    served = Served(index_dir, workers=workers, env={"RAG_LOG_REQUESTS": "false", **env})
    address = urlsplit(served.url)
    assert address.hostname and address.port
    return served, address.hostname, address.port


def metrics_cost_interleaved(index_dir: Path, mode: str, requests: int = 3000) -> None:
    """The same through the whole ASGI stack in one process (no network): two apps, metrics off
    and on, asked the same questions in turn, so that they share the machine's every moment.
    Metrics are in multiprocess mode, as under `rag serve`."""
    import tempfile
    from contextlib import AsyncExitStack

    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="rag-bench-"))
    import httpx

    from rag.config import Settings
    from rag.service.app import create_app, wait_until_loaded

    paths = [f"/search?q={quote(q)}&k=5&mode={mode}" for q in QUESTIONS]

    async def run() -> dict[bool, list[float]]:
        times: dict[bool, list[float]] = {False: [], True: []}
        async with AsyncExitStack() as stack:
            clients = {}
            for on in (False, True):
                settings = Settings(index_dir=index_dir, metrics=on, log_requests=False)
                app = create_app(settings)
                await stack.enter_async_context(app.router.lifespan_context(app))
                await wait_until_loaded(app)
                transport = httpx.ASGITransport(app=app)
                clients[on] = await stack.enter_async_context(
                    httpx.AsyncClient(transport=transport, base_url="http://bench")
                )
            for i in range(requests):
                for on in (False, True) if i % 2 else (True, False):
                    started = time.perf_counter()
                    response = await clients[on].get(paths[i % len(paths)])
                    times[on].append(time.perf_counter() - started)
                    assert response.status_code == 200
        return times

    times = asyncio.run(run())
    off, on = (statistics.median(times[flag]) * 1000 for flag in (False, True))
    print(
        f"in one process, {requests} requests each, interleaved: p50 metrics off {off:.3f} ms, "
        f"on {on:.3f} ms; cost {on - off:+.3f} ms per request"
    )


def metrics_cost(index_dir: Path, mode: str, seconds: float, rounds: int = 3) -> None:
    """p50 latency at concurrency 1 with metrics off and on, alternating servers `rounds`
    times so that the machine's drift falls on both; prints the medians and their difference."""
    p50s: dict[str, list[float]] = {"false": [], "true": []}
    for _ in range(rounds):
        for metrics in ("false", "true"):
            served, host, port = start_server(index_dir, 1, RAG_METRICS=metrics)
            try:
                asyncio.run(load(host, port, mode, 1, 2.0))  # warm-up
                lat = asyncio.run(load(host, port, mode, 1, seconds))
                p50s[metrics].append(percentile(lat, 0.5) * 1000)
            finally:
                served.close()
    off, on = statistics.median(p50s["false"]), statistics.median(p50s["true"])
    print(
        "p50 per round, ms: off "
        + " ".join(f"{v:.3f}" for v in p50s["false"])
        + "; on "
        + " ".join(f"{v:.3f}" for v in p50s["true"])
    )
    print(
        f"p50 at concurrency 1 ({mode}, {rounds} rounds of {seconds:.0f} s): metrics off "
        f"{off:.3f} ms, on {on:.3f} ms; cost {on - off:+.3f} ms per request"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index", type=Path, default=Path("index"))
    parser.add_argument("--mode", default="hybrid", choices=["dense", "bm25", "hybrid"])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--metrics-cost", action="store_true", help="only measure what metrics cost a request"
    )
    args = parser.parse_args()
    if args.metrics_cost:
        metrics_cost(args.index, args.mode, args.seconds)
        metrics_cost_interleaved(args.index, args.mode)
        return

    cores = os.cpu_count() or 1
    wall_ms, cpu_ms = in_process(args.index, args.mode, rounds=20)
    capacity = cores / (cpu_ms / 1000)
    print(f"in process ({args.mode}): p50 {wall_ms:.2f} ms, CPU {cpu_ms:.2f} ms/query")
    print(f"capacity: {cores} cores / {cpu_ms:.2f} ms = {capacity:.0f} queries/s")

    served, host, port = start_server(args.index, args.workers)
    try:
        asyncio.run(load(host, port, args.mode, 4, 2.0))  # warm-up
        print(f"{'conc.':>5} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8} {'vs capacity':>12}")
        for concurrency in (1, 4, 16):
            lat = asyncio.run(load(host, port, args.mode, concurrency, args.seconds))
            rps = len(lat) / args.seconds
            print(
                f"{concurrency:>5} {percentile(lat, 0.5) * 1000:>8.2f} "
                f"{percentile(lat, 0.99) * 1000:>8.2f} {rps:>8.0f} {rps / capacity:>11.0%}"
            )
            if concurrency == 1:
                overhead = percentile(lat, 0.5) * 1000 - wall_ms
                print(f"      HTTP overhead at p50: {overhead:+.2f} ms over in-process search")
    finally:
        served.close()


if __name__ == "__main__":
    main()
