// What both pages share: their words in French and English, and calls to the API with the
// key (asked once, kept in sessionStorage: for this tab only).
"use strict";

const WORDS = {
  en: {
    skip: "Skip to the results",
    skipPassage: "Skip to the passage",
    tagline: "Questions over news articles, answered with their sources",
    question: "Your question, in French or English",
    placeholder: "Who is the mayor of Hangzhou?",
    search: "Search",
    filters: "Filters",
    documents: "Documents",
    documentsHint: "None ticked: all documents.",
    dateFrom: "From (date)",
    dateTo: "To (date)",
    mode: "Mode",
    hybrid: "Hybrid (recommended)",
    dense: "Dense (meaning)",
    bm25: "BM25 (words)",
    k: "Results",
    collection: "Collection",
    passagesIn: (n) => `${n} passage${n === 1 ? "" : "s"}`,
    keyPrompt: "This server needs an API key. It is kept in this tab only.",
    keyWrong: "The server refused this key. Check it and try again.",
    key: "API key",
    useKey: "Use this key",
    loading: "Searching…",
    loadingArticle: "Loading the article…",
    found: (n, ms) => `${n} passage${n === 1 ? "" : "s"} found in ${ms} ms.`,
    none: "No passage answers this question. Try other words, or remove a filter.",
    unanswerable: (n, ms) =>
      `The articles probably do not answer this question: these ${n} passages are the closest, found in ${ms} ms.`,
    refused: "The question was refused: ",
    emptyQuestion: "Type a question first.",
    longQuestion: (max) =>
      max ? `The question is too long: ${max} characters at most.` : "The question is too long.",
    failed: "The server failed to answer: ",
    unreachable: "The server cannot be reached. Check that it is running, then try again.",
    rank: "Result",
    score: "score",
    open: "Open in the article",
    back: "Back to the results",
    passageMarked: "The passage is marked in the text below.",
    undated: "no date",
    page: (n) => `page ${n}`,
    noSuchDocument: (id) =>
      `There is no article “${id}” in the index: it may have been removed. Go back to the search.`,
  },
  fr: {
    skip: "Aller aux résultats",
    skipPassage: "Aller au passage",
    tagline: "Des questions sur des articles de presse, des réponses avec leurs sources",
    question: "Votre question, en français ou en anglais",
    placeholder: "Qui est le maire de Hangzhou ?",
    search: "Rechercher",
    filters: "Filtres",
    documents: "Documents",
    documentsHint: "Aucun coché : tous les documents.",
    dateFrom: "Du (date)",
    dateTo: "Au (date)",
    mode: "Mode",
    hybrid: "Hybride (recommandé)",
    dense: "Dense (sens)",
    bm25: "BM25 (mots)",
    k: "Résultats",
    collection: "Collection",
    passagesIn: (n) => `${n} passage${n === 1 ? "" : "s"}`,
    keyPrompt: "Ce serveur demande une clé d'API. Elle est gardée dans cet onglet seulement.",
    keyWrong: "Le serveur a refusé cette clé. Vérifiez-la et réessayez.",
    key: "Clé d'API",
    useKey: "Utiliser cette clé",
    loading: "Recherche en cours…",
    loadingArticle: "Chargement de l'article…",
    found: (n, ms) => `${n} passage${n === 1 ? "" : "s"} trouvé${n === 1 ? "" : "s"} en ${ms} ms.`,
    none: "Aucun passage ne répond à cette question. Essayez d'autres mots, ou retirez un filtre.",
    unanswerable: (n, ms) =>
      `Les articles ne répondent sans doute pas à cette question : voici les ${n} passages les plus proches, trouvés en ${ms} ms.`,
    refused: "La question a été refusée : ",
    emptyQuestion: "Saisissez d'abord une question.",
    longQuestion: (max) =>
      max ? `La question est trop longue : ${max} caractères au plus.` : "La question est trop longue.",
    failed: "Le serveur n'a pas pu répondre : ",
    unreachable: "Le serveur est injoignable. Vérifiez qu'il tourne, puis réessayez.",
    rank: "Résultat",
    score: "score",
    open: "Ouvrir dans l'article",
    back: "Retour aux résultats",
    passageMarked: "Le passage est surligné dans le texte ci-dessous.",
    undated: "sans date",
    page: (n) => `page ${n}`,
    noSuchDocument: (id) =>
      `L’index n’a pas d’article « ${id} » : il a peut-être été retiré. Revenez à la recherche.`,
  },
};

const LANG_KEY = "rag.lang";
const API_KEY = "rag.apiKey";

function pageLanguage() {
  const chosen = localStorage.getItem(LANG_KEY);
  if (chosen === "fr" || chosen === "en") return chosen;
  const browser = (navigator.languages && navigator.languages[0]) || navigator.language || "en";
  return browser.toLowerCase().startsWith("fr") ? "fr" : "en";
}

function t(word, ...args) {
  const entry = WORDS[pageLanguage()][word];
  return typeof entry === "function" ? entry(...args) : entry;
}

// Puts the page's words in its language; `onChange` redraws what a page wrote itself.
function applyLanguage(onChange) {
  const lang = pageLanguage();
  document.documentElement.lang = lang;
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll("[data-i18n-placeholder]")) {
    el.placeholder = t(el.dataset.i18nPlaceholder);
  }
  const other = lang === "fr" ? "en" : "fr";
  const button = document.getElementById("lang-switch");
  button.textContent = other === "fr" ? "Français" : "English";
  button.lang = other;
  button.onclick = () => {
    localStorage.setItem(LANG_KEY, other);
    applyLanguage(onChange);
  };
  if (onChange) onChange();
}

function setStatus(text, kind) {
  const status = document.getElementById("status");
  status.textContent = text;
  status.className = "status" + (kind ? " " + kind : "");
}

class ApiError extends Error {
  constructor(status, detail, body) {
    super(detail);
    this.status = status;
    this.body = body;
  }
}

// The key form, shown when the server answers 401; resolves once a key is submitted.
function askForKey(wrong) {
  let form = document.getElementById("key-form");
  if (!form) {
    form = document.createElement("form");
    form.id = "key-form";
    form.className = "key-form";
    form.innerHTML =
      '<p id="key-prompt"></p><label for="api-key"></label>' +
      '<div class="question-row"><input id="api-key" type="password" autocomplete="off">' +
      '<button type="submit"></button></div>';
    document.querySelector("main").prepend(form);
  }
  form.querySelector("#key-prompt").textContent = t(wrong ? "keyWrong" : "keyPrompt");
  form.querySelector("label").textContent = t("key");
  form.querySelector("button").textContent = t("useKey");
  form.hidden = false;
  const input = form.querySelector("#api-key");
  input.value = "";
  input.focus();
  return new Promise((resolve) => {
    form.onsubmit = (event) => {
      event.preventDefault();
      sessionStorage.setItem(API_KEY, input.value.trim());
      form.hidden = true;
      resolve();
    };
  });
}

// GET `path` from the API as JSON; asks for the key on 401 and tries again with it.
async function api(path) {
  for (;;) {
    const key = sessionStorage.getItem(API_KEY);
    let response;
    try {
      response = await fetch(path, { headers: key ? { "X-API-Key": key } : {} });
    } catch (error) {
      throw new ApiError(0, t("unreachable"));
    }
    if (response.status === 401) {
      await askForKey(Boolean(key));
      continue;
    }
    let body = null;
    try {
      body = await response.json();
    } catch (error) {
      // A proxy's HTML error page, or no body: reported by its status below.
    }
    if (response.ok) return body;
    const detail = body && body.detail ? body.detail : `HTTP ${response.status}`;
    throw new ApiError(response.status, detail, body);
  }
}

// The collection a page is about: `?collection=` in its address, the default without it.
const DEFAULT_COLLECTION = "default";

function pageCollection() {
  return new URLSearchParams(location.search).get("collection") || DEFAULT_COLLECTION;
}

// The API path of `path` in `collection`: the default's at today's paths, any other's under
// `/collections/{name}`.
function collectionPath(collection, path) {
  if (collection === DEFAULT_COLLECTION) return path;
  return `/collections/${encodeURIComponent(collection)}${path}`;
}

// The message for a failed call, in the page's words, with the server's own reason.
function problemText(error) {
  if (error.status === 0) return error.message;
  if (error.status >= 400 && error.status < 500) return t("refused") + error.message;
  return t("failed") + error.message;
}

// `text[from:to]` as nodes, with the parts that the `[start, end]` spans cover in bold.
function withHighlights(text, from, to, spans) {
  const nodes = [];
  let at = from;
  for (const [start, end] of [...spans].sort((a, b) => a[0] - b[0])) {
    const s = Math.max(start, at);
    const e = Math.min(end, to);
    if (e <= s) continue;
    nodes.push(text.slice(at, s));
    const strong = document.createElement("strong");
    strong.textContent = text.slice(s, e);
    nodes.push(strong);
    at = e;
  }
  nodes.push(text.slice(at, to));
  return nodes;
}

// A document's (or result's) date and source, and the page the passage starts on if paged.
function documentMeta(doc, page = doc.page) {
  const where = page ? t("page", page) : null;
  return [doc.date || t("undated"), doc.source, where].filter(Boolean).join(" · ");
}
