"""The search page and the document view in a real browser: Debian's Chromium driven by
Playwright, against a real `rag serve` on loopback.

Screenshots (desktop and 360 px wide) are saved under the test run's temporary folder; the path
is printed with `pytest -s`.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from conftest import CORPUS, HANGZHOU, OfficeFiles, Served
from playwright.sync_api import Browser, Page, expect, sync_playwright

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps calling out to a closed network.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
ICESCO = "000_de54d0a5294668e5"
DIPLOMACY = "003_c18db2fcc2ae3497"
API_KEY = "page-s3cret"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 360, "height": 740}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing: install it with `apt-get install chromium` (as root)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("screenshots")
    print(f"\nscreenshots of the search page: {folder}")
    return folder


def open_page(
    browser: Browser, url: str, locale: str = "en-US", viewport: dict | None = None
) -> Page:
    context = browser.new_context(locale=locale, viewport=viewport or DESKTOP)  # type: ignore[arg-type]
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.script_errors = errors  # type: ignore[attr-defined]
    return page


def api_titles(server: str, **params: object) -> list[str]:
    answer = httpx.get(f"{server}/search", params=params, timeout=60).json()  # type: ignore[arg-type]
    return [r["title"] for r in answer["results"]]


def document_of(server: str, doc_id: str, key: str | None = None) -> dict:
    headers = {"X-API-Key": key} if key else {}
    return httpx.get(f"{server}/documents/{doc_id}", headers=headers, timeout=60).json()


def ask(page: Page, question: str) -> None:
    box = page.get_by_role("searchbox")
    box.fill(question)
    box.press("Enter")


def cards(page: Page):  # type: ignore[no-untyped-def]
    return page.locator("#results .card")


def test_a_french_question_shows_the_right_article_first_with_a_bold_highlight(
    browser: Browser, server: str, screenshots: Path
) -> None:
    page = open_page(browser, server, locale="fr-FR")
    expect(page.get_by_role("button", name="Rechercher")).to_be_visible()
    ask(page, "Qui est le maire de Hangzhou ?")
    expect(cards(page)).to_have_count(5)
    first = cards(page).first
    expect(first.locator("h2")).to_have_text(document_of(server, HANGZHOU)["title"])
    bold = first.locator(".passage strong")
    expect(bold.first).to_contain_text("maire")
    expect(page.locator("#status")).to_contain_text("5 passages trouvés")
    assert "q=Qui+est+le+maire+de+Hangzhou" in page.url
    page.screenshot(path=screenshots / "search-fr-desktop.png")
    assert page.script_errors == []  # type: ignore[attr-defined]


def test_an_english_question_finds_the_french_article_and_the_page_speaks_english(
    browser: Browser, server: str, screenshots: Path
) -> None:
    page = open_page(browser, server, locale="en-GB", viewport=PHONE)
    expect(page.get_by_label("Your question, in French or English")).to_be_visible()
    ask(page, "When did ICESCO meet with UCLG Africa?")
    first = cards(page).first
    expect(first.locator("h2")).to_have_text(document_of(server, ICESCO)["title"])
    expect(first.locator(".passage strong").first).not_to_be_empty()
    expect(first.get_by_role("link", name="Open in the article")).to_be_visible()
    # Usable at 360 px: nothing wider than the screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=screenshots / "search-en-360px.png", full_page=True)


def test_the_document_view_marks_the_passage_and_scrolls_it_into_view(
    browser: Browser, server: str, screenshots: Path
) -> None:
    page = open_page(browser, server + "/?q=" + "Qui est le maire de Hangzhou ?")
    expect(cards(page)).to_have_count(5)
    # The passage furthest into the article, so that the view has to scroll to it.
    hrefs = cards(page).locator("a.open").evaluate_all("links => links.map(a => a.href)")
    starts = [int(re.search(r"start=(\d+)", h).group(1)) for h in hrefs]  # type: ignore[union-attr]
    last = starts.index(max(starts))
    link = cards(page).nth(last).get_by_role("link", name="Open in the article")
    passage = cards(page).nth(last).locator(".passage").inner_text()
    link.click()
    page.wait_for_url(re.compile(r"/documents/.+/view\?start=\d+&end=\d+"))
    mark = page.locator("mark#passage")
    expect(mark).to_be_visible()
    expect(mark).to_be_in_viewport()
    expect(mark.locator("strong").first).not_to_be_empty()
    start, end = (int(x) for x in re.findall(r"(?:start|end)=(\d+)", page.url)[:2])
    doc = document_of(server, HANGZHOU)
    assert mark.text_content() == doc["text"][start:end]
    assert " ".join(passage.split()) == " ".join(doc["text"][start:end].split())
    assert page.locator("#text").text_content() == doc["text"]
    expect(page.locator("h1")).to_have_text(doc["title"])
    assert page.evaluate("window.scrollY") > 0
    page.screenshot(path=screenshots / "document-view.png")
    page.get_by_role("link", name="Back to the results").click()
    expect(cards(page)).to_have_count(5)


def test_filters_change_the_results_and_go_into_the_url(browser: Browser, server: str) -> None:
    page = open_page(browser, server)
    page.get_by_text("Filters").click()
    diplomacy = document_of(server, DIPLOMACY)["title"]
    page.get_by_role("checkbox", name=diplomacy).check()
    page.get_by_label("Mode").select_option("dense")
    page.get_by_label("Results").fill("2")
    ask(page, "Qui est le maire de Hangzhou ?")
    expect(cards(page)).to_have_count(2)
    expect(cards(page).locator("h2")).to_have_text([diplomacy, diplomacy])
    assert f"doc_id={DIPLOMACY}" in page.url and "mode=dense" in page.url and "k=2" in page.url
    assert api_titles(server, q="Qui est le maire de Hangzhou ?", doc_id=DIPLOMACY, mode="dense",
                      k=2) == [diplomacy, diplomacy]  # fmt: skip

    # A date range that ends before the Hangzhou article (2017-12-09) leaves it out.
    page.get_by_role("checkbox", name=diplomacy).uncheck()
    page.get_by_label("Mode").select_option("hybrid")
    page.get_by_label("To (date)").fill("2017-12-01")
    ask(page, "Qui est le maire de Hangzhou ?")
    expect(page.locator("#status")).to_contain_text(re.compile("found|No passage"))
    hangzhou = document_of(server, HANGZHOU)["title"]
    assert hangzhou not in cards(page).locator("h2").all_inner_texts()
    assert "date_to=2017-12-01" in page.url


def test_an_empty_or_too_long_question_shows_the_reason(browser: Browser, server: str) -> None:
    page = open_page(browser, server)
    ask(page, "")
    expect(page.locator("#status.error")).to_have_text("Type a question first.")
    expect(cards(page)).to_have_count(0)
    ask(page, "   ")
    expect(page.locator("#status.error")).to_have_text("Type a question first.")
    ask(page, "maire " * 200)
    expect(page.locator("#status.error")).to_have_text(
        "The question is too long: 1000 characters at most."
    )
    page.get_by_role("button", name="Français").click()
    # All in French: not pydantic's English message beside it ("String should have at most…").
    expect(page.locator("#status.error")).to_have_text(
        "La question est trop longue : 1000 caractères au plus."
    )


def test_a_shared_url_reproduces_the_search(browser: Browser, server: str) -> None:
    params = {"q": "Quelles formations sur la diplomatie des villes ?", "k": "3", "mode": "dense"}
    # A shared link may carry what the API does not take (a tracker's): the page leaves it out.
    page = open_page(browser, f"{server}/?{urlencode({**params, 'utm_source': 'mail'})}")
    expect(cards(page)).to_have_count(3)
    expect(cards(page).locator("h2")).to_have_text(api_titles(server, **params))
    expect(page.get_by_role("searchbox")).to_have_value(params["q"])
    expect(page.get_by_label("Mode")).to_have_value("dense")
    expect(page.get_by_label("Results")).to_have_value("3")
    # Back and forward go through the searches made on the page.
    ask(page, "Who is the mayor of Hangzhou?")
    expect(page.get_by_role("searchbox")).to_have_value("Who is the mayor of Hangzhou?")
    page.go_back()
    expect(page.get_by_role("searchbox")).to_have_value(params["q"])
    expect(cards(page)).to_have_count(3)


def test_a_question_the_articles_do_not_answer_is_said_so_above_the_closest_passages(
    browser: Browser, server: str
) -> None:
    page = open_page(browser, server, locale="fr-FR")
    ask(page, "Quel est le meilleur fromage de Normandie ?")
    expect(page.locator("#status")).to_contain_text(
        "Les articles ne répondent sans doute pas à cette question"
    )
    expect(cards(page)).to_have_count(5)
    expect(page.locator(".passage strong")).to_have_count(0)  # nothing shown as the answer
    ask(page, "Qui est le maire de Hangzhou ?")
    expect(page.locator("#status")).to_contain_text("5 passages trouvés")
    expect(page.locator(".passage strong").first).not_to_be_empty()


def test_an_unreachable_server_and_no_result_are_said_in_words(
    browser: Browser, server: str
) -> None:
    page = open_page(browser, server)
    ask(page, "the")
    expect(cards(page).first).to_be_visible()
    page.get_by_text("Filters").click()
    page.get_by_label("Mode").select_option("bm25")
    ask(page, "the")  # no searchable word: BM25 finds nothing
    expect(page.locator("#status")).to_have_text(re.compile("^No passage answers this question"))
    page.context.route("**/search?*", lambda route: route.abort("connectionrefused"))
    ask(page, "Qui est le maire de Hangzhou ?")
    expect(page.locator("#status.error")).to_contain_text("The server cannot be reached")


def test_the_language_switch_changes_the_words_and_is_remembered(
    browser: Browser, server: str
) -> None:
    page = open_page(browser, server, locale="en-US")
    page.get_by_role("button", name="Français").click()
    expect(page.get_by_role("button", name="Rechercher")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    page.reload()
    expect(page.get_by_role("button", name="Rechercher")).to_be_visible()
    page.get_by_role("button", name="English").click()
    expect(page.get_by_role("button", name="Search")).to_be_visible()


def test_the_keyboard_reaches_the_controls_in_reading_order(browser: Browser, server: str) -> None:
    page = open_page(browser, server + "/?q=maire")
    expect(cards(page)).to_have_count(5)

    def focused_after(key: str) -> str:
        page.keyboard.press(key)
        return page.evaluate("document.activeElement.id || document.activeElement.textContent")

    # The question box has the focus on arrival; then the button, the filters, the results.
    expect(page.get_by_role("searchbox")).to_be_focused()
    forward = [focused_after("Tab") for _ in range(3)]
    assert forward == ["search-button", "Filters", "Open in the article"]
    page.get_by_role("searchbox").focus()
    backward = [focused_after("Shift+Tab") for _ in range(3)]
    assert backward == ["lang-switch", "rag", "Skip to the results"]


def _contrast(page: Page, selector: str) -> float:
    """WCAG contrast ratio of an element's text colour on the page's white background."""
    return page.locator(selector).first.evaluate(
        """el => {
          const lum = c => {
            const [r, g, b] = c.match(/\\d+/g).slice(0, 3).map(v => {
              v = v / 255;
              return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
            });
            return 0.2126 * r + 0.7152 * g + 0.0722 * b;
          };
          const style = getComputedStyle(el);
          let bg = style.backgroundColor;
          if (bg === "rgba(0, 0, 0, 0)") bg = "rgb(255, 255, 255)";
          const [a, b] = [lum(style.color), lum(bg)].sort((x, y) => y - x);
          return (a + 0.05) / (b + 0.05);
        }"""
    )


def test_text_has_enough_contrast(browser: Browser, server: str) -> None:
    page = open_page(browser, server + "/?q=maire")
    expect(cards(page)).to_have_count(5)
    for selector in ("body", ".tagline", ".meta", ".score", ".open", "#search-button", "summary"):
        assert _contrast(page, selector) >= 4.5, selector


def test_with_an_api_key_the_page_asks_for_it_once_per_tab(
    browser: Browser, built_index_dir: Path, screenshots: Path
) -> None:
    with Served(built_index_dir, corpus_dir=CORPUS, env={"RAG_API_KEY": API_KEY}) as served:
        page = open_page(browser, served.url + "/?q=Qui est le maire de Hangzhou ?")
        key = page.get_by_label("API key")
        expect(key).to_be_visible()
        page.screenshot(path=screenshots / "api-key.png")
        key.fill("wrong")
        key.press("Enter")
        expect(page.locator("#key-prompt")).to_have_text(re.compile("refused this key"))
        key.fill(API_KEY)
        key.press("Enter")
        expect(key).to_be_hidden()
        expect(cards(page)).to_have_count(5)
        expect(cards(page).first.locator("h2")).to_have_text(
            document_of(served.url, HANGZHOU, API_KEY)["title"]
        )
        # Kept for this tab: the next search and the document view ask nothing more.
        ask(page, "When did ICESCO meet with UCLG Africa?")
        expect(cards(page).first.locator("h2")).to_have_text(
            document_of(served.url, ICESCO, API_KEY)["title"]
        )
        cards(page).first.get_by_role("link", name="Open in the article").click()
        expect(page.locator("mark#passage")).to_be_visible()
        assert page.evaluate("localStorage.getItem('rag.apiKey')") is None
        # Another tab has to give it again.
        other = page.context.new_page()
        other.goto(served.url + "/?q=maire")
        expect(other.get_by_label("API key")).to_be_visible()


def test_a_pdf_result_and_its_document_view_show_the_page(
    browser: Browser, office_files: OfficeFiles, tmp_path: Path
) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    shutil.copy(office_files.report_pdf, corpus)
    with Served(tmp_path / "index", corpus_dir=corpus) as served:  # builds the index first
        page = open_page(browser, served.url + "/?q=Quand ouvre le marché couvert de Villeneuve ?")
        first = cards(page).first
        expect(first.locator(".meta")).to_contain_text("page 3")
        first.get_by_role("link", name="Open in the article").click()
        expect(page.locator("mark#passage")).to_be_visible()
        expect(page.locator("#meta")).to_contain_text("page 3")
        assert page.script_errors == []  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("locale", "says"),
    [("en-US", "There is no article “nope” in the index"),
     ("fr-FR", "L’index n’a pas d’article « nope »")],
)  # fmt: skip
def test_the_view_of_an_unknown_document_says_so_in_the_pages_words(
    browser: Browser, server: str, locale: str, says: str
) -> None:
    page = open_page(browser, server + "/documents/nope/view?start=0&end=5", locale=locale)
    expect(page.locator("#status")).to_contain_text(says)
    assert "refused" not in page.locator("#status").inner_text()
    assert page.script_errors == []  # type: ignore[attr-defined]


_MODE_FITS = """() => {
  const select = document.getElementById("mode");
  const pen = document.createElement("canvas").getContext("2d");
  pen.font = getComputedStyle(select).font;
  const widest = Math.max(...[...select.options].map((o) => pen.measureText(o.textContent).width));
  return [widest, select.clientWidth];
}"""


@pytest.mark.parametrize("locale", ["fr-FR", "en-US"])
def test_every_mode_fits_its_select_on_a_desktop_and_a_phone(
    browser: Browser, server: str, locale: str
) -> None:
    for viewport in (DESKTOP, PHONE):
        page = open_page(browser, server, locale=locale, viewport=viewport)
        expect(page.locator("#mode option").first).not_to_be_empty()
        widest, width = page.evaluate(_MODE_FITS)
        # Room for the select's arrow and padding beside the text (it was cut, "Hybride (recomma").
        assert widest + 32 <= width, (locale, viewport, widest, width)


LYON = {
    "id": "lyon-velos",
    "title": "Lyon lance des vélos partagés",
    "text": "La ville de Lyon lance un programme de vélos électriques partagés pour ses "
    "habitants. Le maire a présenté le projet au conseil municipal.",
}
VILLES_READER = "villes-reader-key"


def test_a_person_picks_among_the_collections_their_key_may_read(
    browser: Browser, built_index_dir: Path, tmp_path: Path, screenshots: Path
) -> None:
    import hashlib
    import json

    keys = tmp_path / "keys.json"
    digest = hashlib.sha256(VILLES_READER.encode()).hexdigest()
    entry = {"name": "reader", "key_sha256": digest, "collections": ["villes"], "write": False}
    keys.write_text(json.dumps([entry]))
    env = {
        "RAG_API_KEY": API_KEY, "RAG_API_KEYS": str(keys),
        "RAG_COLLECTIONS_DIR": str(tmp_path / "collections"),
    }  # fmt: skip
    with Served(built_index_dir, workers=1, env=env) as served:
        full = {"X-API-Key": API_KEY}
        made = httpx.put(f"{served.url}/collections/villes", headers=full, timeout=120)
        assert made.status_code == 201, made.text
        added = httpx.post(
            f"{served.url}/collections/villes/documents", json=LYON, headers=full, timeout=120
        )
        assert added.status_code == 201, added.text
        # The full key sees both: it picks `villes`, whose documents and answers the page shows.
        page = open_page(browser, served.url)
        page.evaluate(f"sessionStorage.setItem('rag.apiKey', {API_KEY!r})")
        page.reload()
        picker = page.get_by_label("Collection")
        expect(picker).to_be_visible()
        expect(picker.locator("option")).to_have_text(
            [re.compile(r"^default \(\d+ passages\)$"), "villes (1 passage)"]
        )
        expect(page.locator("#documents label")).to_have_count(5)
        picker.select_option("villes")
        expect(page.locator("#documents label")).to_have_text([re.compile("^Lyon lance")])
        ask(page, "Des vélos électriques à Lyon ?")
        expect(cards(page).first.locator("h2")).to_have_text(LYON["title"])
        assert "collection=villes" in page.url
        page.screenshot(path=screenshots / "collections.png")
        cards(page).first.get_by_role("link", name="Open in the article").click()
        expect(page.locator("mark#passage")).to_be_visible()
        expect(page.locator("#text")).to_have_text(LYON["text"])
        assert "collection=villes" in (page.locator("#back").get_attribute("href") or "")
        page.go_back()
        expect(cards(page).first.locator("h2")).to_have_text(LYON["title"])
        expect(picker).to_have_value("villes")
        assert page.script_errors == []  # type: ignore[attr-defined]
        # A key that reads only `villes` starts there, with no choice to make and no 404.
        page = open_page(browser, served.url + "/?q=vélos")
        page.get_by_label("API key").fill(VILLES_READER)
        page.get_by_label("API key").press("Enter")
        expect(cards(page).first.locator("h2")).to_have_text(LYON["title"])
        expect(page.get_by_label("Collection")).to_be_hidden()
        expect(page.locator("#documents label")).to_have_count(1)
        # The picker fits a phone too.
        phone = open_page(browser, served.url + "/?collection=villes", viewport=PHONE)
        phone.evaluate(f"sessionStorage.setItem('rag.apiKey', {API_KEY!r})")
        phone.reload()
        expect(phone.get_by_label("Collection")).to_have_value("villes")
        assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        assert page.script_errors == []  # type: ignore[attr-defined]
