"""How `/health` answers while the server is worked as hard as a client can work it.

Starts `rag serve` (writes open; one worker unless --workers says otherwise, so that the prober
shares an event loop with every load client: with two, a new connection lands on whichever
worker is free to accept it, and what the prober meets is luck) on a copy of --index.
First `/health` is timed alone; then --clients clients send the slowest requests found
(issue #29): all but one ask `"é" * 1000` (1,004 e5 tokens, two 512-token windows, about 3 s of
embedding) in every mode, and one replaces a 20,000-character document again and again (parse,
clean, split, embed, commit). Meanwhile a prober sends `GET /health` every 20 ms on its own
keep-alive connection. It prints `/health` p50, p99 and max alone and under load, what the load
clients got (and any answer other than 200/201), and writes the figures to --out.

Run: .venv/bin/python eval/bench_reliability.py [--index index] [--seconds 60] [--clients 4]
     [--workers 1]
The clients are threads of this process on the same two cores as the server: the figures are
for the whole machine at its busiest, medians and tails of one run, never assertions.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from bench_http import percentile, start_server

SLOW_QUESTION = "é" * 1000
MODES = ("hybrid", "dense", "bm25")
ROOT = Path(__file__).resolve().parent.parent


def _probe(url: str, until: float, every: float = 0.02) -> list[float]:
    times: list[float] = []
    with httpx.Client(base_url=url, timeout=60) as client:
        while time.perf_counter() < until:
            started = time.perf_counter()
            assert client.get("/health").status_code == 200
            times.append(time.perf_counter() - started)
            time.sleep(max(0.0, every - (time.perf_counter() - started)))
    return times


def _asker(url: str, until: float, seen: Counter[str], took: list[float]) -> None:
    with httpx.Client(base_url=url, timeout=300) as client:
        for mode in itertools.cycle(MODES):
            if time.perf_counter() >= until:
                return
            started = time.perf_counter()
            r = client.get("/search", params={"q": SLOW_QUESTION, "mode": mode})
            took.append(time.perf_counter() - started)
            seen[f"search {r.status_code}"] += 1


def _writer(url: str, until: float, seen: Counter[str], took: list[float]) -> None:
    article = sorted((ROOT / "corpus").glob("*.txt"))[0].read_text(encoding="utf-8")
    text = (article * (20_000 // len(article) + 1))[:20_000]
    with httpx.Client(base_url=url, timeout=300) as client:
        for n in itertools.count():
            if time.perf_counter() >= until:
                return
            body = {"title": f"Note {n}", "date": "2024-05-02", "text": f"Version {n}. {text}"}
            started = time.perf_counter()
            r = client.put("/documents/bench-note", json=body)
            took.append(time.perf_counter() - started)
            seen[f"write {r.status_code}"] += 1


def _summary(times: list[float]) -> dict[str, float]:
    return {
        "requests": len(times),
        "p50_ms": round(percentile(times, 0.5) * 1000, 2),
        "p99_ms": round(percentile(times, 0.99) * 1000, 2),
        "max_ms": round(max(times) * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index", type=Path, default=ROOT / "index")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "eval" / "bench_reliability.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rag-bench-") as tmp:
        index_dir = Path(tmp) / "index"
        shutil.copytree(args.index, index_dir)
        served, host, port = start_server(index_dir, args.workers, RAG_ALLOW_WRITES="true")
        url = f"http://{host}:{port}"
        try:
            httpx.get(f"{url}/search", params={"q": "maire"}, timeout=120)  # load the models
            alone = _probe(url, time.perf_counter() + 10)
            seen: Counter[str] = Counter()
            asked: list[float] = []
            written: list[float] = []
            until = time.perf_counter() + args.seconds
            load = [threading.Thread(target=_writer, args=(url, until, seen, written))]
            load += [
                threading.Thread(target=_asker, args=(url, until, seen, asked))
                for _ in range(args.clients - 1)
            ]
            for thread in load:
                thread.start()
            loaded = _probe(url, until)
            for thread in load:
                thread.join()
        finally:
            served.close()
    figures = {
        "date": datetime.date.today().isoformat(),
        "seconds": args.seconds,
        "clients": args.clients,
        "workers": args.workers,
        "health_alone": _summary(alone),
        "health_under_load": _summary(loaded),
        "slow_questions": _summary(asked),
        "writes": _summary(written),
        "answers": dict(sorted(seen.items())),
    }
    args.out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    for name in ("health_alone", "health_under_load", "slow_questions", "writes"):
        f = figures[name]
        print(f"{name:>18}: {f['requests']:>5} requests, p50 {f['p50_ms']:>8.2f} ms, "
              f"p99 {f['p99_ms']:>8.2f} ms, max {f['max_ms']:>8.2f} ms")  # fmt: skip
    print("answers:", figures["answers"])


if __name__ == "__main__":
    main()
