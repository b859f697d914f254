// The document view: `/documents/{id}/view?start=..&end=..[&hl=s-e ...]` shows the whole stored
// article with the passage [start, end) marked (and its highlights in bold), scrolled into view.
"use strict";

const params = new URLSearchParams(location.search);
const docId = decodeURIComponent(location.pathname.split("/")[2] || "");
const collection = pageCollection();
let doc = null;
let problem = null;

function offset(name) {
  const value = Number.parseInt(params.get(name), 10);
  return Number.isFinite(value) ? value : null;
}

function render() {
  const article = document.getElementById("article");
  if (problem) {
    // An unknown id is not a refused question: say so in the page's words.
    const text = problem.status === 404 ? t("noSuchDocument", docId) : problemText(problem);
    setStatus(text, "error");
    article.hidden = true;
    return;
  }
  if (!doc) return;
  document.title = `rag — ${doc.title}`;
  document.getElementById("title").textContent = doc.title;
  const body = document.getElementById("text");
  const text = doc.text;
  const start = offset("start");
  const end = offset("end");
  const valid = start !== null && end !== null && 0 <= start && start < end && end <= text.length;
  // The page the passage starts on: the last page that starts at or before it.
  const page = valid && doc.pages ? doc.pages.filter((at) => at <= start).length : null;
  document.getElementById("meta").textContent = documentMeta(doc, page);
  if (!valid) {
    body.replaceChildren(text);
    setStatus("");
    article.hidden = false;
    return;
  }
  const spans = params.getAll("hl")
    .map((span) => span.split("-").map((n) => Number.parseInt(n, 10)))
    .filter(([s, e]) => Number.isFinite(s) && Number.isFinite(e));
  const mark = document.createElement("mark");
  mark.id = "passage";
  mark.tabIndex = -1;
  mark.append(...withHighlights(text, start, end, spans));
  body.replaceChildren(text.slice(0, start), mark, text.slice(end));
  setStatus(t("passageMarked"));
  article.hidden = false;
}

async function load() {
  setStatus(t("loadingArticle"), "loading");
  try {
    doc = await api(collectionPath(collection, `/documents/${encodeURIComponent(docId)}`));
  } catch (error) {
    problem = error;
  }
  render();
  const mark = document.getElementById("passage");
  if (mark) {
    mark.scrollIntoView({ block: "center" });
    mark.focus({ preventScroll: true });
  }
}

if (collection !== DEFAULT_COLLECTION) {
  document.getElementById("back").href = `/?${new URLSearchParams({ collection })}`;
}
document.getElementById("back").addEventListener("click", (event) => {
  // Back to the search that led here, as it was, when there is one.
  if (document.referrer && new URL(document.referrer).origin === location.origin) {
    event.preventDefault();
    history.back();
  }
});

applyLanguage(render);
load();
