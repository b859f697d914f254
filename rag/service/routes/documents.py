"""`/documents`: what the index holds, and each document's full stored text."""

from fastapi import APIRouter

from rag.answers import DocumentSummary
from rag.errors import DocumentNotFoundError
from rag.service.dependencies import IndexDep
from rag.service.schemas import DocumentText, problems

router = APIRouter(tags=["documents"])


@router.get("/documents", response_model=list[DocumentSummary])
def documents(index: IndexDep) -> list[DocumentSummary]:
    """Every document: id, title, date and number of passages."""
    return index.store.documents()


@router.get("/documents/{doc_id}", response_model=DocumentText, responses=problems(404))
def document(doc_id: str, index: IndexDep) -> DocumentText:
    """A document's metadata and full stored text, to show a passage in context."""
    doc = index.store.document(doc_id)
    if doc is None:
        raise DocumentNotFoundError(f"no document with id {doc_id!r}; GET /documents lists them")
    passages = len(index.store.passage_ids(doc_ids=[doc_id]))
    return DocumentText(**doc.__dict__, passages=passages)
