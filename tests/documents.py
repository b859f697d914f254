"""Real PDF and Word files for the tests, made by real producers: LibreOffice converts the
corpus articles and a report written with python-docx, poppler and img2pdf make a scan of a
PDF. `make test` installs them (its `documents` target)."""

from __future__ import annotations

import shutil
import subprocess
from datetime import datetime
from pathlib import Path

REPORT = "rapport"
# Page 3 of the report is the only page that says this.
PAGE_3_FACT = "Le marché couvert de Villeneuve ouvre chaque mardi à sept heures."
RUNNING_HEADER = "Observatoire des villes numériques, rapport annuel"


def _run(*command: str, timeout: float = 300) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{command[0]} failed: {done.stderr or done.stdout}"


def soffice(files: list[Path], target: str, out_dir: Path, profile: Path) -> list[Path]:
    """`files` converted by LibreOffice to `target` ("pdf", "docx" or a filter spec) in
    `out_dir`; `profile` is a user profile of its own, so that conversions can run side by side."""
    out_dir.mkdir(parents=True, exist_ok=True)
    _run(
        shutil.which("soffice") or "soffice", f"-env:UserInstallation=file://{profile}",
        "--headless", "--convert-to", target, "--outdir", str(out_dir), *map(str, files),
    )  # fmt: skip
    suffix = "." + target.split(":")[0]
    made = [out_dir / (f.stem + suffix) for f in files]
    assert all(p.exists() for p in made), f"soffice made {sorted(out_dir.iterdir())}"
    return made


def _page_field(paragraph: object) -> None:
    """Append a PAGE field (the page's number, as Word and LibreOffice print it)."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    field = OxmlElement("w:fldSimple")
    field.set(qn("w:instr"), "PAGE")
    run = OxmlElement("w:r")
    text = OxmlElement("w:t")
    text.text = "1"
    run.append(text)
    field.append(run)
    paragraph._p.append(field)  # type: ignore[attr-defined]


def write_report(path: Path) -> Path:
    """A Word report of three pages, with a running header, numbered pages, headings, a table
    and its title and date in its core properties."""
    import docx

    document = docx.Document()
    document.core_properties.title = "Rapport sur les villes numériques"
    document.core_properties.created = datetime(2024, 3, 5, 9, 30)
    section = document.sections[0]
    section.header.paragraphs[0].text = RUNNING_HEADER
    footer = section.footer.paragraphs[0]
    footer.text = "Page "
    _page_field(footer)
    document.add_heading("Les villes et le numérique", level=1)
    for n in range(8):  # pages of more than a passage each, so that a passage starts on each
        document.add_paragraph(
            f"Premier chapitre, paragraphe {n + 1} : les municipalités ouvrent leurs données "
            "publiques et forment leurs agents aux outils numériques, avec les associations "
            "de quartier et les écoles de la ville."
        )
    document.add_page_break()
    document.add_heading("Les budgets", level=1)
    table = document.add_table(rows=3, cols=2)
    budgets = [("Ville", "Budget"), ("Villeneuve", "12 millions"), ("Montclair", "8 millions")]
    for row, (city, budget) in zip(table.rows, budgets, strict=True):
        row.cells[0].text, row.cells[1].text = city, budget
    for n in range(8):
        document.add_paragraph(
            f"Le deuxième chapitre, paragraphe {n + 1}, compare les budgets consacrés à la "
            "transition numérique par les villes membres du réseau, année par année."
        )
    document.add_page_break()
    document.add_heading("Les marchés", level=1)
    document.add_paragraph(PAGE_3_FACT)
    for n in range(6):
        document.add_paragraph(
            f"Le troisième chapitre, paragraphe {n + 1}, décrit les services de proximité que "
            "les habitants utilisent le plus souvent, des bibliothèques aux piscines."
        )
    document.save(path)
    return path


def scan(pdf: Path, out: Path, dpi: int = 200) -> Path:
    """A scan of `pdf`: its pages as images (poppler's pdftoppm), bound into a PDF without a
    text layer (img2pdf)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    stem = out.with_suffix("")
    _run("pdftoppm", "-r", str(dpi), "-gray", "-png", str(pdf), str(stem))
    images = sorted(out.parent.glob(f"{stem.name}-*.png"))
    _run("img2pdf", "-o", str(out), *map(str, images))
    for image in images:
        image.unlink()
    return out
