// The search page: the collection, question and filters live in the URL
// (`/?collection=...&q=...&k=...`), so a search can be shared and reloaded; results come from
// GET /search of the collection (`/collections/{name}/search` for any but the default).
"use strict";

const form = document.getElementById("search-form");
const results = document.getElementById("results");
let lastAnswer = null;
let lastProblem = null;
let collection = pageCollection();
let documentsOf = null; // the collection whose documents the filters list

// The request the URL describes, as /search takes it.
function paramsFromForm() {
  const params = new URLSearchParams();
  params.set("q", form.q.value);
  const k = form.k.value.trim();
  if (k && k !== "5") params.set("k", k);
  if (form.mode.value !== "hybrid") params.set("mode", form.mode.value);
  for (const box of document.querySelectorAll("#documents input:checked")) {
    params.append("doc_id", box.value);
  }
  if (form.date_from.value) params.set("date_from", form.date_from.value);
  if (form.date_to.value) params.set("date_to", form.date_to.value);
  return params;
}

function fillForm(params) {
  form.q.value = params.get("q") || "";
  form.k.value = params.get("k") || "5";
  form.mode.value = params.get("mode") || "hybrid";
  form.date_from.value = params.get("date_from") || "";
  form.date_to.value = params.get("date_to") || "";
  const ids = new Set(params.getAll("doc_id"));
  for (const box of document.querySelectorAll("#documents input")) box.checked = ids.has(box.value);
  const filtered = ids.size || params.has("date_from") || params.has("date_to") ||
    params.has("mode") || params.has("k");
  if (filtered) document.getElementById("filters").open = true;
}

// The passage's text with its highlighted sentences in bold (offsets are the document's).
function passageNode(result) {
  const p = document.createElement("p");
  p.className = "passage";
  const spans = result.highlights.map((h) => [h.start - result.start, h.end - result.start]);
  p.append(...withHighlights(result.text, 0, result.text.length, spans));
  return p;
}

function card(result) {
  const li = document.createElement("li");
  li.className = "card";
  const article = document.createElement("article");
  article.setAttribute("aria-labelledby", `title-${result.rank}`);
  const head = document.createElement("header");
  const rank = document.createElement("span");
  rank.className = "rank";
  rank.textContent = String(result.rank);
  rank.setAttribute("aria-label", `${t("rank")} ${result.rank}`);
  const title = document.createElement("h2");
  title.id = `title-${result.rank}`;
  title.textContent = result.title;
  head.append(rank, title);
  const meta = document.createElement("p");
  meta.className = "meta";
  meta.textContent = documentMeta(result);
  const score = document.createElement("span");
  score.className = "score";
  score.textContent = `${t("score")} ${result.score.toFixed(2)}`;
  meta.append(score);
  const link = document.createElement("a");
  link.className = "open";
  const view = new URLSearchParams({ start: result.start, end: result.end });
  for (const h of result.highlights) view.append("hl", `${h.start}-${h.end}`);
  if (collection !== DEFAULT_COLLECTION) view.set("collection", collection);
  link.href = `/documents/${encodeURIComponent(result.doc_id)}/view?${view}`;
  link.textContent = t("open");
  article.append(head, meta, passageNode(result), link);
  li.append(article);
  return li;
}

// The server's reason for refusing the question, in the page's words when it is a usual one.
function searchProblemText(error) {
  const question = form.q.value;
  if (error.status === 422 && !question.trim()) return t("emptyQuestion");
  const fields = (error.body && error.body.errors) || [];
  const tooLong = fields.find((e) => e.loc.at(-1) === "q" && e.type === "string_too_long");
  // The limit, from the server's message ("at most 1000 characters"), in the page's words.
  if (tooLong) return t("longQuestion", (tooLong.msg.match(/\d+/) || [])[0]);
  return problemText(error);
}

function render() {
  results.replaceChildren();
  if (lastProblem) {
    setStatus(searchProblemText(lastProblem), "error");
  } else if (lastAnswer) {
    const n = lastAnswer.results.length;
    const ms = Math.round(lastAnswer.took_ms);
    if (!n) setStatus(t("none"), "empty");
    else if (lastAnswer.answerable === false) setStatus(t("unanswerable", n, ms), "empty");
    else setStatus(t("found", n, ms), "");
    results.append(...lastAnswer.results.map(card));
  } else {
    setStatus("");
  }
}

async function runSearch(params) {
  lastAnswer = null;
  lastProblem = null;
  results.replaceChildren();
  results.setAttribute("aria-busy", "true");
  setStatus(t("loading"), "loading");
  try {
    lastAnswer = await api(collectionPath(collection, `/search?${params}`));
  } catch (error) {
    lastProblem = error;
  }
  results.removeAttribute("aria-busy");
  render();
}

// The collections the key may read, in the picker; shown only when there is a choice.
async function loadCollections() {
  const field = document.getElementById("collection-field");
  let listed = [];
  try {
    listed = await api("/collections");
  } catch (error) {
    return; // the searches below say what is wrong
  }
  const names = listed.map((c) => c.name);
  // A key that may not read the default starts on the first collection it may read.
  if (!new URLSearchParams(location.search).has("collection") && names.length &&
      !names.includes(collection)) {
    collection = names[0];
  }
  form.collection.replaceChildren(...listed.map((c) => {
    const option = document.createElement("option");
    option.value = c.name;
    option.textContent = `${c.name} (${t("passagesIn", c.passages)})`;
    return option;
  }));
  field.hidden = names.length < 2;
  form.collection.value = collection;
}

async function loadDocuments() {
  const box = document.getElementById("documents");
  if (documentsOf === collection) return;
  documentsOf = collection;
  box.replaceChildren();
  try {
    const docs = await api(collectionPath(collection, "/documents"));
    for (const doc of docs) {
      const label = document.createElement("label");
      const input = document.createElement("input");
      input.type = "checkbox";
      input.name = "doc_id";
      input.value = doc.id;
      const text = document.createElement("span");
      text.textContent = `${doc.title} (${doc.date || t("undated")})`;
      label.append(input, text);
      box.append(label);
    }
  } catch (error) {
    box.textContent = problemText(error);
  }
}

// What GET /search takes: a page address may carry more (a tracker's utm_source), which the
// API would refuse.
const SEARCH_PARAMETERS = ["q", "k", "mode", "doc_id", "date_from", "date_to"];

async function searchFromLocation() {
  const named = new URLSearchParams(location.search).get("collection");
  if (named) collection = named;
  form.collection.value = collection;
  await loadDocuments(); // first, so that a shared URL's documents can be ticked
  const params = new URLSearchParams(
    [...new URLSearchParams(location.search)].filter(([key]) => SEARCH_PARAMETERS.includes(key)),
  );
  fillForm(params);
  if (params.has("q")) runSearch(params);
  else render();
}

// The page's address for a search: its collection (unless the default), then the search.
function pushLocation(params) {
  const page = new URLSearchParams(collection === DEFAULT_COLLECTION ? {} : { collection });
  for (const [key, value] of params) page.append(key, value);
  const url = `/?${page}`;
  if (url !== location.pathname + location.search) history.pushState(null, "", url);
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const params = paramsFromForm();
  pushLocation(params);
  runSearch(params);
});
// Another collection: its documents in the filters, none ticked, and the question asked of it.
form.collection.addEventListener("change", async () => {
  collection = form.collection.value;
  await loadDocuments();
  if (!form.q.value.trim()) {
    pushLocation(new URLSearchParams());
    render();
    return;
  }
  const params = paramsFromForm();
  pushLocation(params);
  runSearch(params);
});
window.addEventListener("popstate", searchFromLocation);

applyLanguage(render);
fillForm(new URLSearchParams(location.search));
loadCollections().then(searchFromLocation);
