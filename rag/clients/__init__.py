"""Clients of a running service: `RagClient` and `AsyncRagClient` over HTTP, and the LangChain
retriever in `rag.clients.langchain` (extra `langchain`)."""

from rag.clients.http import (
    AsyncRagClient,
    ClientError,
    RagClient,
    RequestRejected,
    ServerError,
    ServiceUnreachable,
)

__all__ = [
    "AsyncRagClient",
    "ClientError",
    "RagClient",
    "RequestRejected",
    "ServerError",
    "ServiceUnreachable",
]
