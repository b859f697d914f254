"""`/documents`: what the index holds, each document's full stored text, and the writes that
change it (POST, PUT, DELETE), which every worker answers from within a second."""

import hashlib
import time
from dataclasses import dataclass
from pathlib import PurePath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from rag.answers import DocumentSummary
from rag.errors import (
    CollectionNotFoundError,
    DocumentNotFoundError,
    IndexCorruptError,
    IndexNotFoundError,
    InvalidQueryError,
    UnsupportedMediaTypeError,
)
from rag.index.live import LiveIndex
from rag.index.manifest import MANIFEST
from rag.indexing.collections import no_collection
from rag.indexing.updates import document_exists, update_index
from rag.ingest.formats import Document, FormatLimits, parse_document
from rag.service.dependencies import IndexDep, LiveDep, collection_of, require_writes
from rag.service.schemas import (
    POST_BODY,
    PUT_BODY,
    UPLOAD_FIELDS,
    WRITABLE_ID_PATTERN,
    WRITABLE_ID_RULE,
    DocumentChange,
    DocumentText,
    NewDocument,
    problems,
)

router = APIRouter(tags=["documents"])
writes = APIRouter(
    tags=["documents"],
    dependencies=[Depends(require_writes)],
    responses=problems(403, 413, 415, 422, 503),
)
_SUFFIX = {"text": ".txt", "markdown": ".md", "html": ".html"}


@router.get("/documents", response_model=list[DocumentSummary])
def documents(index: IndexDep) -> list[DocumentSummary]:
    """Every document: id, title, date and number of passages (changes show at once)."""
    return index.store.documents()


@router.get("/documents/{doc_id}", response_model=DocumentText, responses=problems(404))
def document(doc_id: str, index: IndexDep) -> DocumentText:
    """A document's metadata and full stored text, to show a passage in context."""
    doc = index.store.document(doc_id)
    if doc is None:
        raise DocumentNotFoundError(f"no document with id {doc_id!r}; GET /documents lists them")
    passages = len(index.store.passage_ids(doc_ids=[doc_id]))
    fields = {**doc.__dict__, "pages": list(doc.pages) or None}
    return DocumentText(**fields, passages=passages)


@dataclass(frozen=True)
class _Body:
    """What a write's body gives, read but not yet parsed into a document."""

    doc_id: str
    data: bytes | str
    suffix: str
    source: str
    fields: dict[str, Any]

    limits: FormatLimits

    def parse(self) -> Document:
        """The document, cleaned as a corpus file is: CPU work, run off the event loop."""
        document, _ = parse_document(
            self.doc_id, self.data, self.suffix, self.source, self.fields, self.limits
        )
        return document


async def _body_of(request: Request, doc_id: str | None) -> _Body:
    """What a write's body gives: JSON (`NewDocument`) or a multipart file upload. `doc_id` is
    the path's, which the body may repeat but not contradict."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    data: bytes | str
    if kind == "application/json":
        try:
            body = NewDocument.model_validate_json(await request.body())
        except ValidationError as exc:
            raise RequestValidationError(exc.errors(include_url=False)) from None
        fields: dict[str, Any] = body.model_dump(include={"title", "date", "url", "language"})
        given_id, data, suffix, source = body.id, body.text, _SUFFIX[body.format], body.source
    elif kind == "multipart/form-data":
        async with request.form() as form:  # closes the uploaded file's spool
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise InvalidQueryError(
                    "a multipart upload needs a `file` field: a .txt, .md, .html, .pdf or "
                    ".docx file"
                )
            unknown = sorted(set(form) - {"file", *UPLOAD_FIELDS})
            if unknown:  # as a JSON body's unknown fields are
                allowed = ", ".join(("file", *UPLOAD_FIELDS))
                raise RequestValidationError(
                    [
                        {"loc": ("body", k), "type": "extra_forbidden",
                         "msg": f"unknown form field; an upload's fields are {allowed}"}
                        for k in unknown
                    ]
                )  # fmt: skip
            fields = {k: str(form[k]) for k in UPLOAD_FIELDS if k != "id" and form.get(k)}
            name = PurePath(upload.filename or "upload.txt")
            # A POST's id may come from the file's name; a PUT's is the path's, whatever the
            # file is called.
            given_id = str(form["id"]) if form.get("id") else None if doc_id else name.stem
            data, suffix, source = await upload.read(), name.suffix or ".txt", name.name
    else:
        raise UnsupportedMediaTypeError(
            f"the body is {kind or 'of no declared type'}; send application/json "
            "(a NewDocument) or multipart/form-data with a `file`"
        )
    if doc_id is not None and given_id is not None and given_id != doc_id:
        raise InvalidQueryError(f"the body's id {given_id!r} is not the path's {doc_id!r}")
    final_id = doc_id or given_id or _id_of(data)
    try:  # the rules of a JSON body, for an upload's fields and an id from a path or file name
        NewDocument(id=final_id, text="-", **fields)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None
    limits = FormatLimits.of(request.app.state.settings)
    return _Body(final_id, data, suffix, source or "api", fields, limits)


def _id_of(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return "doc-" + hashlib.sha256(raw).hexdigest()[:16]


def _write(request: Request, live: LiveIndex, **change: Any) -> DocumentChange:
    started = time.perf_counter()
    index = live.current
    settings = request.app.state.settings
    try:
        report = update_index(
            index.path, settings, embedder=index.embedder, previous=index, **change
        )
    except (IndexNotFoundError, IndexCorruptError):
        if (index.path / MANIFEST).exists():
            raise
        # Deleted by DELETE /collections/{name} while this change waited for its lock.
        raise CollectionNotFoundError(no_collection(collection_of(request))) from None
    live.refresh()  # this worker answers from the new generation at once; the others poll
    return DocumentChange(
        generation=report.generation,
        added=report.added,
        replaced=report.replaced,
        removed=report.removed,
        unchanged=report.unchanged,
        passages_added=report.passages_added,
        passages_removed=report.passages_removed,
        took_ms=round((time.perf_counter() - started) * 1000, 2),
    )


@writes.post(
    "/documents",
    status_code=201,
    response_model=DocumentChange,
    responses=problems(409),
    openapi_extra=POST_BODY,
)
async def add_document(request: Request, live: LiveDep) -> DocumentChange:
    """Add a document (JSON, or a multipart upload of a .txt, .md, .html, .pdf or .docx
    file). 409 if its id is taken: PUT replaces."""
    body = await _body_of(request, None)
    if live.current.store.fingerprints([body.doc_id]):  # before the work of parsing it
        raise document_exists([body.doc_id])
    doc = await run_in_threadpool(body.parse)
    return await run_in_threadpool(_write, request, live, add=[doc], must_be_new=True)


@writes.put(
    "/documents/{doc_id}",
    response_model=DocumentChange,
    responses={201: {"description": "created", "model": DocumentChange}},
    openapi_extra=PUT_BODY,
)
async def put_document(
    doc_id: Annotated[str, Path(pattern=WRITABLE_ID_PATTERN, description=WRITABLE_ID_RULE)],
    request: Request,
    response: Response,
    live: LiveDep,
) -> DocumentChange:
    """Replace the document `doc_id`, or add it (201) if there is none."""
    doc = await run_in_threadpool((await _body_of(request, doc_id)).parse)
    change = await run_in_threadpool(_write, request, live, add=[doc])
    if change.added:
        response.status_code = 201
    return change


@writes.delete("/documents/{doc_id}", response_model=DocumentChange, responses=problems(404))
async def delete_document(doc_id: str, request: Request, live: LiveDep) -> DocumentChange:
    """Remove the document `doc_id` and its passages."""
    return await run_in_threadpool(_write, request, live, remove=[doc_id])
