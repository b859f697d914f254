"""The search page (`GET /`) and the document view (`GET /documents/{id}/view`), for people.

Plain HTML, CSS and JavaScript served from the package (`rag/service/web`): no build step and no
CDN. The pages hold nothing from the index, so they need no key; the script asks for the key
when the API answers 401 and sends it with each call.
"""

from functools import cache
from importlib.resources import files

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

router = APIRouter(include_in_schema=False)
# The pages load only their own files and call only this server, and no other site may frame
# them (the document view shows stored text, which is the authors', not ours).
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'; object-src 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
assets = StaticFiles(packages=[("rag.service", "web")])


@cache
def _page(name: str) -> str:
    return (files("rag.service") / "web" / name).read_text(encoding="utf-8")


@router.get("/", response_class=HTMLResponse)
async def search_page() -> HTMLResponse:
    return HTMLResponse(_page("index.html"), headers=PAGE_HEADERS)


@router.get("/documents/{doc_id}/view", response_class=HTMLResponse)
async def document_page(doc_id: str) -> HTMLResponse:
    return HTMLResponse(_page("document.html"), headers=PAGE_HEADERS)
