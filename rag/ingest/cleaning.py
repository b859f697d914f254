"""Turning the raw text of a web page into the article it carries.

Pages copied from the web keep their furniture: navigation, share prompts, placeholder text,
newsletter prompts, comment counters, photo credits. We drop those lines, keep every sentence of
the article, and note the title and the date where the page gives them.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from rag.ingest.dates import find_dates, first_date, most_precise


def _line(*patterns: str) -> re.Pattern[str]:
    return re.compile(r"^(?:" + "|".join(patterns) + r")$", re.IGNORECASE)


# A whole line that is page furniture.
_FURNITURE = _line(
    r"skip to (?:main )?content",
    r"(?:aller|passer) au contenu(?: principal)?",
    r"actualités|news|accueil|home|menu",
    r"partage[rz]?(?: cet article| sur \w+)?\s*:?|share(?: this(?: article| post)?)?\s*:?",
    r"imprimer|print",
    r"retour(?: en haut| à la liste)?|back(?: to top)?",
    r"lire la suite|read more",
    r"\d+ (?:commentaires?|comments?)|aucun commentaire|no comments|"
    r"laisser un commentaire|leave a (?:comment|reply)",
    r"abonnez-vous.*|à la lettre d.actualités|inscrivez-vous à (?:notre|la) newsletter.*|"
    r"subscribe(?: to)?.*newsletter.*",
    r"lorem ipsum.*",
    r"(?:pour plus d.informations|for more information)\s*:?",
    r"(?:[A-Z]\.){2,}[A-Z]?\.?",  # a byline of initials: "A.A.A"
    r".*(?:crédit photo|photo credit|crédits? photos?\s*:).*",
    r"©.*",
)
# A caption ending in its photo credit, "… (c) Name": looked for after the line's last
# sentence end only, so that the cost stays linear in the line (the pattern
# `.*\(c\) [A-Z][^.!?]*` as a whole line took 25 s on "(c) a" * 16000 + ".").
_CREDIT = re.compile(r"\(c\) [A-Z]", re.IGNORECASE)


def _ends_in_credit(line: str) -> bool:
    last_sentence_end = max(line.rfind(mark) for mark in ".!?") + 1
    return _CREDIT.search(line, last_sentence_end) is not None


# A line that only carries the publication date.
_DATE_LINE = _line(
    r"(?:dernière mise à jour|mis à jour le|publié le|last updated|published)\s*:?\s*(?P<d1>.*)",
    r"(?P<d2>\d{1,2}[./]\d{1,2}[./]\d{4})(?:\s*-?\s*\d{1,2}[:h]\d{2})?",
    r"(?P<d3>.{0,30}\d{4}) (?:par|by)(?: .{0,40})?",
)
# A leading "date 2021-09" field that some exports put before the article.
_DATE_PREFIX = re.compile(r"^date\s+(\d{4}-\d{2}(?:-\d{2})?)\s+", re.IGNORECASE)
# A line after which the rest of the page is related links and prompts.
_TAIL = _line(
    r"ces articles pourraient vous intéresser|articles similaires|à lire aussi|"
    r"vous aimerez aussi|related (?:articles|posts)|you may also like"
)
_SPACES = re.compile(r"[^\S\n]+")
_BLANK_LINES = re.compile(r"\n{3,}")
_TITLE_MAX_CHARS = 200


@dataclass(frozen=True)
class CleanedPage:
    text: str
    title: str | None
    date: str | None


def normalize_text(text: str) -> str:
    """NFKC, one space between words, no space at line ends, at most one blank line in a row."""
    text = unicodedata.normalize("NFKC", text).replace("\r\n", "\n").replace("\r", "\n")
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def _guess_title(lines: list[str]) -> str | None:
    for line in lines[:3]:
        if len(line) <= _TITLE_MAX_CHARS and len(line.split()) >= 3 and line[-1] not in ".!?;:":
            return line
    return None


def _date_of_line(line: str) -> str | None:
    m = _DATE_LINE.match(line)
    if not m:
        return None
    found = next(value for value in m.groupdict().values() if value is not None)
    return first_date(found) or ""  # "" marks a date line whose date we cannot read


def clean_page(raw: str) -> CleanedPage:
    """Normalise `raw`, drop page furniture, and find the title and the date."""
    text = normalize_text(raw)
    dates: list[str] = []
    prefix = _DATE_PREFIX.match(text)
    if prefix:
        dates.append(prefix.group(1))
        text = text[prefix.end() :]

    kept: list[str] = []
    last_line = ""  # the last non-blank line kept, to drop a paragraph repeated right after
    for line in text.split("\n"):
        if _TAIL.match(line):
            break
        date_of_line = _date_of_line(line) if len(line) < 80 else None
        if date_of_line is not None:
            if date_of_line:
                dates.append(date_of_line)
            continue
        if line and (_FURNITURE.match(line) or _ends_in_credit(line) or line == last_line):
            continue
        if not line and (not kept or not kept[-1]):
            continue
        kept.append(line)
        last_line = line or last_line
    body = "\n".join(kept).strip()
    if not dates:
        found = find_dates(body)
        dates = [found[0][1]] if found else []
    return CleanedPage(text=body, title=_guess_title(body.split("\n")), date=most_precise(dates))
