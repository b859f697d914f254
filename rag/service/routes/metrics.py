"""`/metrics`: the service's Prometheus metrics (see `rag.service.metrics`)."""

from fastapi import APIRouter, Response

from rag.service import metrics

router = APIRouter(tags=["status"])


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
def prometheus_metrics() -> Response:
    """Requests, latencies, searches, the index and the workers, in the Prometheus text format."""
    content, content_type = metrics.exposition()
    return Response(content, media_type=content_type)
