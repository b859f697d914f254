"""Showing an evaluation: a table with the modes side by side, the misses, a PNG chart."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from rag.errors import MissingExtraError
from rag.evaluation.metrics import HIGHLIGHT, KEPT, METRICS, EvalReport


def print_report(report: EvalReport, console: Console, max_misses: int = 20) -> None:
    modes = list(report.runs)
    c = report.config
    title = (
        f"{c.get('gold') or c.get('squad')} · {c['questions']} questions · {c['embedder']} · "
        f"chunks {c['chunk_size']}/{c['chunk_overlap']} · {c['passages']} passages"
    )
    table = Table(title=title, title_justify="left")
    table.add_column("questions")
    table.add_column("n", justify="right")
    table.add_column("metric")
    for mode in modes:
        table.add_column(mode, justify="right")
    rows = [*METRICS, HIGHLIGHT, KEPT]
    same = _same_as_their_language(report)
    for group in report.runs[modes[0]]:
        if group in same:
            continue
        for i, metric in enumerate(rows):
            values = [report.runs[m][group][metric] for m in modes]
            cells = [
                f"[bold]{v:.3f}[/]" if v == max(values) and len(modes) > 1 else f"{v:.3f}"
                for v in values
            ]
            is_first, is_last = i == 0, i == len(rows) - 1
            n = str(int(report.runs[modes[0]][group]["n"])) if is_first else ""
            table.add_row(group if is_first else "", n, metric, *cells, end_section=is_last)
    console.print(table)
    for pair, language in same.items():
        console.print(
            f"({pair}: the same questions as {language}, every answer in a "
            f"{pair.split('->')[1]} document)",
            highlight=False,
        )
    if report.refusals:
        refusals = Table(
            title=f"{c['unanswerable']}: unanswerable questions refused",
            title_justify="left",
        )
        refusals.add_column("questions")
        refusals.add_column("n", justify="right")
        for mode in modes:
            refusals.add_column(mode, justify="right")
        for group, row in report.refusals[modes[0]].items():
            cells = [f"{report.refusals[m][group]['refused']:.3f}" for m in modes]
            refusals.add_row(group, str(int(row["n"])), *cells)
        console.print(refusals)
    for mode in modes:
        missed = report.misses.get(mode, [])
        if not missed:
            continue
        console.print(f"\n[bold]{mode}[/]: {len(missed)} questions without an answer in the top 10")
        for miss in missed[:max_misses]:
            first = (
                f"{miss.first.doc_id} [{miss.first.start}:{miss.first.end}] "
                f"{miss.first.text[:80]!r}"
                if miss.first
                else "nothing"
            )
            console.print(
                f"  {miss.id} {miss.question!r}\n    expected {miss.expected_doc}: "
                f"{miss.expected_quote[:70]!r}\n    ranked first: {first}",
                highlight=False,
            )
        if len(missed) > max_misses:
            console.print(f"  … and {len(missed) - max_misses} more (--misses N shows more)")


def _same_as_their_language(report: EvalReport) -> dict[str, str]:
    """The question->document language rows ("en->fr") that repeat their question language's
    row ("en") in every mode, as on a corpus of one language: pair -> language."""
    first = report.runs[next(iter(report.runs))]
    return {
        group: group.split("->")[0]
        for group in first
        if "->" in group
        and all(rows.get(group) == rows.get(group.split("->")[0]) for rows in report.runs.values())
    }


def write_chart(report: EvalReport, path: Path) -> None:
    """A grouped bar chart of the overall metrics of each mode."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise MissingExtraError(
            "the chart needs matplotlib; install it with: pip install 'rag[eval]'"
        ) from exc
    modes = list(report.runs)
    metrics = list(METRICS)
    width = 0.8 / len(modes)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for i, mode in enumerate(modes):
        values = [report.runs[mode]["all"][m] for m in metrics]
        xs = [x + i * width for x in range(len(metrics))]
        bars = ax.bar(xs, values, width, label=mode)
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.set_xticks([x + width * (len(modes) - 1) / 2 for x in range(len(metrics))], metrics)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score")
    c = report.config
    ax.set_title(f"{c.get('gold') or c.get('squad')}: {c['questions']} questions, {c['embedder']}")
    ax.legend(loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
