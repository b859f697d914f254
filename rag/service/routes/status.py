"""`/health` (the process is alive) and `/ready` (the index is loaded, with its manifest)."""

import os
from typing import Any

from fastapi import APIRouter

from rag.service.dependencies import IndexDep

router = APIRouter(tags=["status"])
# /health answers without the API key, so that a load balancer can probe it.
public = APIRouter(tags=["status"])


@public.get("/health")
async def health() -> dict[str, str]:
    """Whether the server is alive."""
    return {"status": "ok"}


@router.get("/ready")
async def ready(index: IndexDep) -> dict[str, Any]:
    """Whether the index is loaded, with its manifest, the generation this worker answers
    from, and the worker's process id."""
    m = index.manifest
    return {
        "status": "ready",
        "generation": index.generation,
        "worker": os.getpid(),
        "embedder": m.embedder.name,
        "passages": m.passages,
        "documents": m.documents,
        "built_at": m.built_at,
        "manifest": m.model_dump(),
    }
