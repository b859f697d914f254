"""Embedding on a Ray cluster (`rag index --ray`, extra `ray`): the cost of ingestion, spread.

The driver reads, cleans and chunks the corpus and writes the index as a local build does; only
the texts the build must embed (not those whose vectors the previous index already holds) go to
the cluster, as a Ray Data pipeline: `from_items` → `map_batches` over a fixed pool of actors,
each holding one copy of the model → vectors streamed back to the driver and put in their rows.
Ray Data restarts an actor that dies (its process killed, its node lost) and retries its tasks;
an error in the embedding code itself fails the job, and a build that fails writes nothing: the
previous index keeps serving.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from rag.config import Settings
from rag.embedders import Embedder, make_embedder
from rag.errors import MissingExtraError, RayClusterError

log = logging.getLogger(__name__)
CONNECT_SECONDS = 10
_ADDRESS_HINT = (
    "Give the address of a running cluster (`ray start --head` prints it), or none for a local Ray"
)


def _ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise MissingExtraError(
            "rag index --ray needs Ray Data; install it with: pip install 'rag[ray]'"
        ) from exc
    return ray


class PassageEmbedder:
    """One actor of the pool: loads the model once, then embeds the batches it is given."""

    def __init__(self, name: str, settings: Settings):
        self._embedder = make_embedder(name, settings)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        vectors = self._embedder.encode_passages([str(t) for t in batch["text"]])
        return {"row": batch["row"], "vector": vectors}


class RayEmbedder(Embedder):
    """`local`'s vectors, computed on a Ray cluster: the same name, dimension and prefixes, so
    the manifest and the reuse of known vectors are those of a local build. Questions (few and
    short) are embedded by `local` itself."""

    def __init__(self, local: Embedder, settings: Settings, actors: int):
        super().__init__(local.batch_size, local.query_prefix, local.passage_prefix)
        self.name = local.name
        self.dimension = local.dimension
        self.actors = actors
        self._local = local
        # What the actors need to load the model; the API key stays on the driver.
        self._settings = settings.model_copy(update={"api_key": None})

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        return self._local._embed_batch(texts)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._local.encode_queries(texts)

    def encode_passages(
        self, texts: Sequence[str], progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        ray = _ray()
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        dataset = ray.data.from_items([{"row": i, "text": t} for i, t in enumerate(texts)])
        vectors = dataset.map_batches(
            PassageEmbedder,
            fn_constructor_kwargs={"name": self.name, "settings": self._settings},
            batch_size=self._settings.ray_batch_size,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=self.actors),
            num_cpus=self._settings.embed_threads,
        )
        done = np.zeros(len(texts), dtype=bool)
        try:
            for batch in vectors.iter_batches(batch_size=None, batch_format="numpy"):
                out[batch["row"]] = batch["vector"]
                done[batch["row"]] = True
                if progress:
                    progress(len(batch["row"]))
        except (ray.exceptions.RayError, ray.data.exceptions.SystemException) as exc:
            # A remote error's text is its whole traceback: its last line says what failed.
            cause = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            raise RayClusterError(
                f"the embedding job failed on the Ray cluster: {cause}. Ray's logs are under "
                "/tmp/ray/session_latest/logs"
            ) from exc
        if not done.all():  # never seen; a missing row would be a wrong index, so refuse it
            raise RayClusterError(f"the Ray cluster returned {done.sum()} of {len(texts)} vectors")
        return out


def _check_reachable(address: str) -> None:
    """Fail at once when nothing answers at a `host:port` address: Ray would keep retrying."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return  # "auto", or a form Ray resolves itself
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_SECONDS).close()
    except OSError as exc:
        raise RayClusterError(
            f"cannot connect to the Ray cluster at {address!r} ({exc.strerror or exc}). "
            + _ADDRESS_HINT
        ) from exc


@contextmanager
def ray_embedder(local: Embedder, settings: Settings) -> Iterator[RayEmbedder]:
    """A `RayEmbedder` on the cluster at `settings.ray_address`, or on a local Ray instance
    started for the build (and stopped after it) when there is none."""
    # Ray's C++ core logs, at error level, a notice for every actor pool whose constructor
    # arguments sit in the object store (ray-project/ray#53727); the job's real errors are
    # raised in Python. RAY_BACKEND_LOG_LEVEL set by the user wins.
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    if not settings.ray_address:
        # A Ray started for one build listens on loopback only, not on the machine's network
        # address (Ray's single-machine mode; read when ray is first imported).
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    ray = _ray()
    started = not ray.is_initialized()
    if started:
        address = settings.ray_address
        if address:
            _check_reachable(address)
        try:
            ray.init(
                # "local": a new instance, even when another cluster runs on this machine.
                address=address or "local",
                num_cpus=None if address else os.cpu_count(),
                include_dashboard=False,
                log_to_driver=False,
                logging_level=logging.ERROR,
            )
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise RayClusterError(
                f"cannot connect to the Ray cluster at {address!r}: {exc}. {_ADDRESS_HINT}; a "
                "cluster with token authentication also needs RAY_AUTH_MODE=token"
            ) from exc
    try:
        # The build prints its own progress; Ray Data's bars and per-job lines would bury it.
        ray.data.DataContext.get_current().enable_progress_bars = False
        logging.getLogger("ray.data").setLevel(logging.ERROR)
        cpus = int(ray.cluster_resources().get("CPU", 1))
        actors = settings.ray_actors or max(1, cpus // settings.embed_threads)
        log.info("embedding on Ray with %d actors (%d CPUs in the cluster)", actors, cpus)
        yield RayEmbedder(local, settings, actors)
    finally:
        if started:
            ray.shutdown()
