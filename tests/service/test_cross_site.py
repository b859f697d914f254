"""What a browser may do with a page of another site open: no change sent from a foreign origin
(a form auto-submitted by another site carries no key but is as good as the server's own pages
when writes are open), no framing of the pages, no sniffing of answers. Against a real uvicorn."""

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import serve_in_thread

from rag.config import Settings
from rag.service.app import create_app

pytestmark = pytest.mark.slow
FRONT = "https://front.example"
NOTE = ("note.md", "# Une note\n\nLa ville de Lyon ouvre une maison du numérique.", "text/markdown")


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory, built_index_dir: Path) -> Iterator[str]:
    index_dir = tmp_path_factory.mktemp("cross-site") / "index"
    shutil.copytree(built_index_dir, index_dir)
    settings = Settings(index_dir=index_dir, allow_writes=True, cors_origins=[FRONT])
    with serve_in_thread(create_app(settings)) as url:
        yield url


def _ids(url: str) -> set[str]:
    return {d["id"] for d in httpx.get(f"{url}/documents").json()}


def test_a_change_sent_from_another_site_is_refused_and_changes_nothing(url: str) -> None:
    before = _ids(url)
    doc_id = sorted(before)[0]
    refused = [
        httpx.post(f"{url}/documents", files={"file": NOTE},
                   headers={"Origin": "https://evil.example"}, timeout=60),
        httpx.post(f"{url}/documents", files={"file": NOTE},
                   headers={"Sec-Fetch-Site": "cross-site"}, timeout=60),
        httpx.delete(f"{url}/documents/{doc_id}", headers={"Origin": "null"}),
        httpx.put(f"{url}/documents/{doc_id}", files={"file": NOTE},
                  headers={"Sec-Fetch-Site": "same-site"}, timeout=60),
    ]  # fmt: skip
    for r in refused:
        assert r.status_code == 403, r.text
        assert r.json()["error"] == "cross_origin" and "RAG_CORS_ORIGINS" in r.json()["detail"]
    assert "https://evil.example" in refused[0].json()["detail"]
    assert _ids(url) == before
    # Reads from anywhere stay open: the answer is the browser's to share or not (CORS).
    assert httpx.get(f"{url}/search", params={"q": "maire"},
                     headers={"Origin": "https://evil.example"}).status_code == 200  # fmt: skip


@pytest.mark.parametrize(
    "headers",
    [
        {},  # not a browser: curl, a script, the CLI
        {"Origin": FRONT},  # the front end RAG_CORS_ORIGINS names
        {"Sec-Fetch-Site": "same-origin"},
        {"Sec-Fetch-Site": "none"},  # typed in the address bar
    ],
    ids=["no-origin", "allowed-origin", "same-origin", "user-initiated"],
)
def test_a_change_from_a_client_or_an_allowed_origin_is_taken(
    url: str, headers: dict[str, str]
) -> None:
    doc_id = f"note-{len(headers)}-{''.join(headers.values())[:12]}".replace(":", "")
    doc_id = "".join(c for c in doc_id if c.isalnum() or c == "-")
    r = httpx.post(f"{url}/documents", files={"file": NOTE}, data={"id": doc_id},
                   headers=headers, timeout=60)  # fmt: skip
    assert r.status_code == 201, r.text
    assert httpx.delete(f"{url}/documents/{doc_id}", headers=headers).status_code == 200


def test_the_servers_own_origin_may_change_things(url: str) -> None:
    # The pages' own requests: Origin is this server (its host, whatever the scheme before it).
    host = url.removeprefix("http://")
    for origin in (url, f"https://{host}"):
        r = httpx.post(f"{url}/documents", files={"file": NOTE}, data={"id": "own-note"},
                       headers={"Origin": origin}, timeout=60)  # fmt: skip
        assert r.status_code == 201, r.text
        assert httpx.delete(f"{url}/documents/own-note", headers={"Origin": origin}).is_success


def test_pages_are_not_framed_and_load_only_their_own_files(url: str) -> None:
    for path in ("/", f"/documents/{sorted(_ids(url))[0]}/view"):
        page = httpx.get(url + path)
        assert page.status_code == 200
        policy = page.headers["content-security-policy"]
        assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert page.headers["x-frame-options"] == "DENY"


def test_every_answer_forbids_content_sniffing(url: str) -> None:
    for r in (
        httpx.get(f"{url}/health"),
        httpx.get(f"{url}/search", params={"q": "maire"}),
        httpx.get(f"{url}/nowhere"),
        httpx.post(f"{url}/search", content=b"{", headers={"Content-Type": "application/json"}),
    ):
        assert r.headers["x-content-type-options"] == "nosniff", r.url
