"""Load benchmark of the HTTP API against in-process search.

Starts `rag serve` on a free loopback port, sends a mix of French and English questions at
concurrency 1, 4 and 16 over keep-alive connections, and prints p50/p99 latency and requests per
second. It also times the same questions in process, so the HTTP overhead shows as a difference
and the throughput as a ratio to what the machine's cores could do:

    capacity = cores / (in-process CPU time per query)

Run: .venv/bin/python eval/bench_http.py [--index index] [--seconds 10] [--mode hybrid]
The load generator is a few lines of asyncio over raw sockets, so that it costs the server's
two cores as little as possible; numbers are medians over the run, never assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote

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
    from rag.indexing.index import load_index
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


def start_server(index_dir: Path, workers: int) -> tuple[subprocess.Popen[str], str, int]:
    cmd = [sys.executable, "-m", "rag.cli", "serve", "--port", "0", "--index", str(index_dir)]
    if workers > 1:
        cmd += ["--workers", str(workers)]
    env = {**os.environ, "RAG_LOG_REQUESTS": "false"}
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stderr is not None
    for line in proc.stderr:
        m = re.search(r"running on http://([\d.]+):(\d+)", line, re.I)
        if m:
            threading.Thread(target=proc.stderr.read, daemon=True).start()
            return proc, m.group(1), int(m.group(2))
    raise RuntimeError("the server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index", type=Path, default=Path("index"))
    parser.add_argument("--mode", default="hybrid", choices=["dense", "bm25", "hybrid"])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()

    cores = os.cpu_count() or 1
    wall_ms, cpu_ms = in_process(args.index, args.mode, rounds=20)
    capacity = cores / (cpu_ms / 1000)
    print(f"in process ({args.mode}): p50 {wall_ms:.2f} ms, CPU {cpu_ms:.2f} ms/query")
    print(f"capacity: {cores} cores / {cpu_ms:.2f} ms = {capacity:.0f} queries/s")

    proc, host, port = start_server(args.index, args.workers)
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
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
