"""The `rag` command line: a thin layer that parses options, calls the library, prints."""

from __future__ import annotations

import errno
import json
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from rag.config import Settings
from rag.errors import RagError

if TYPE_CHECKING:
    from rag.indexing.updates import UpdateReport

app = typer.Typer(
    help="Ask questions in French or English over a corpus of articles.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
out = Console()
err = Console(stderr=True, soft_wrap=True)

CorpusOpt = Annotated[Path | None, typer.Option("--corpus", help="corpus folder [corpus/]")]
IndexOpt = Annotated[Path | None, typer.Option("--index", help="index folder [index/]")]
CollectionOpt = Annotated[
    str | None,
    typer.Option(
        "--collection",
        help="a collection's name: its index is RAG_COLLECTIONS_DIR/<name> [default: --index]",
    ),
]
EmbedderOpt = Annotated[
    str | None,
    typer.Option(
        help="e5-small, use-m3 or sentence-transformers:<model> [the index's, or e5-small]"
    ),
]


def fail(message: str, code: int = 2) -> NoReturn:
    # Messages carry what the user gave (paths, titles) and "pip install 'rag[ocr]'": text,
    # never Rich markup.
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def make_settings(
    collection: str | None = None, existing: bool = True, **overrides: Any
) -> Settings:
    """Settings from the environment, with the options given on the command line on top;
    with `collection`, those of that collection (its index folder), which must exist unless
    not `existing`."""
    if collection is not None and overrides.get("index_dir") is not None:
        fail("give --index or --collection, not both (a collection's index is its own folder)")
    try:
        settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg'].removeprefix('Value error, ')}"
            + ("" if e["loc"][0] == "api_key" else f" (got {e['input']!r})")  # never the key
            if e["loc"]
            else e["msg"].removeprefix("Value error, ")
            for e in exc.errors()
        )
        fail(f"bad setting: {problems}")
    if collection is None:
        return settings
    try:
        named = settings.for_collection(collection)
    except RagError as exc:
        fail(str(exc))
    from rag.index.manifest import MANIFEST

    if existing and not (named.index_dir / MANIFEST).exists():
        fail(
            f"no collection named {collection!r} at {named.index_dir.absolute()}; `rag "
            f"collections` lists them, `rag index --collection {collection} --corpus DIR` makes it"
        )
    return named


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn domain errors into one line on stderr and exit code 2; SIGTERM into a clean stop."""

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    except RagError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail("interrupted; nothing was changed", code=130)
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def build_progress() -> Iterator[Callable[[str, int, int], None]]:
    """Progress bars on a terminal; elsewhere (a pipe, a log file, CI) lines at a steady pace."""
    if not err.is_terminal:
        from rag.indexing.progress import ProgressLog

        yield ProgressLog(lambda line: print(line, file=sys.stderr, flush=True))
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=err, transient=True) as bar:
        tasks: dict[str, Any] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield update


@app.command("index")
def index_command(
    corpus: CorpusOpt = None,
    index: IndexOpt = None,
    collection: CollectionOpt = None,
    embedder: EmbedderOpt = None,
    chunk_size: Annotated[int | None, typer.Option(help="characters per passage")] = None,
    chunk_overlap: Annotated[int | None, typer.Option(help="characters of overlap")] = None,
    strict: Annotated[
        bool, typer.Option(help="fail (exit 2) if any file or line cannot be indexed")
    ] = False,
    ray: Annotated[
        bool, typer.Option("--ray", help="embed on a Ray cluster (extra 'ray') [RAG_RAY]")
    ] = False,
    ray_address: Annotated[
        str | None, typer.Option(help="a running Ray cluster [RAG_RAY_ADDRESS; none: local]")
    ] = None,
    ray_actors: Annotated[
        int | None, typer.Option(help="embedding actors [the cluster's CPUs]")
    ] = None,
    ray_batch_size: Annotated[int | None, typer.Option(help="texts per Ray task [256]")] = None,
    rebuild: Annotated[
        bool, typer.Option(help="build from nothing instead of applying the differences")
    ] = False,
) -> None:
    """Bring the index up to date with a corpus folder, or build it.

    Only the differences are applied: new files are added, changed ones replaced, and the
    documents of deleted files removed (documents added with `rag add` or over HTTP from
    elsewhere are kept). --rebuild builds from nothing; so does another embedder or chunking.
    Files that cannot be read are skipped and listed, unless --strict. With --ray, the texts to
    embed are embedded on a Ray cluster; the index is the same as a local build's."""
    from rag.indexing.updates import index_corpus

    settings = make_settings(
        collection=collection,
        existing=False,
        corpus_dir=corpus,
        index_dir=index,
        embedder=embedder,
        chunk_size=chunk_size,
        chunk_overlap=chunk_overlap,
        ray=ray or None,  # without --ray, RAG_RAY decides
        ray_address=ray_address,
        ray_actors=ray_actors,
        ray_batch_size=ray_batch_size,
    )
    with user_errors(), build_progress() as progress:
        result = index_corpus(settings, progress=progress, strict=strict, rebuild=rebuild)
    for source, encoding in result.decoded.items():
        err.print(f"read {source} as {encoding} (it is not UTF-8)", highlight=False, markup=False)
    for skipped in result.skipped:
        err.print(f"[yellow]skipped[/] {escape(str(skipped))}", highlight=False)
    m = result.manifest
    left_out = f", skipped {len(result.skipped)} (listed above)" if result.skipped else ""
    if result.build is not None:
        report = result.build
        why = f" (rebuilt: {result.rebuilt_because})" if result.rebuilt_because else ""
        err.print(
            f"indexed {m.documents} documents into {m.passages} passages at "
            f"{settings.index_dir}{left_out} ({m.embedder.name}, {m.vector_index} FAISS index; "
            f"{report.embedded} embedded, {report.reused} reused) in {report.seconds:.1f} s{why}",
            highlight=False,
            markup=False,
        )
        return
    assert result.update is not None
    kept = f"; kept {len(result.kept)} added from elsewhere" if result.kept else ""
    _print_update(result.update, settings.index_dir, f"{left_out}{kept}")


def _print_update(report: UpdateReport, index_dir: Path, extra: str = "") -> None:
    m = report.manifest
    parts = [
        f"{len(ids)} {what}"
        for ids, what in (
            (report.added, "added"),
            (report.replaced, "replaced"),
            (report.removed, "removed"),
            (report.unchanged, "unchanged"),
        )
        if ids
    ]
    change = (
        f"generation {report.generation}: {report.passages_added} passages in, "
        f"{report.passages_removed} out, {report.embedded} texts embedded"
        + (", segments merged" if report.merged else "")
        if report.changed
        else f"nothing to change, still generation {report.generation}"
    )
    err.print(
        f"{', '.join(parts) or 'no documents'}{extra} at {index_dir}: {change}; "
        f"{m.documents} documents, {m.passages} passages, in {report.seconds:.1f} s",
        highlight=False,
        markup=False,
    )


@app.command("add")
def add_command(
    paths: Annotated[list[Path], typer.Argument(help="files or folders of documents")],
    index: IndexOpt = None,
    collection: CollectionOpt = None,
) -> None:
    """Add documents to the index, replacing any of the same id (a file's id is its name
    without the extension). Same formats and cleaning as `rag index`."""
    from rag.indexing.prepare import origins_of
    from rag.indexing.updates import update_index
    from rag.ingest.corpus import read_paths
    from rag.ingest.formats import FormatLimits

    settings = make_settings(collection=collection, index_dir=index)
    with user_errors(), build_progress() as progress:
        reading = read_paths(paths, FormatLimits.of(settings))
        for skipped in reading.skipped:
            err.print(f"[yellow]skipped[/] {escape(str(skipped))}", highlight=False)
        report = update_index(
            settings.index_dir,
            settings,
            add=reading.documents,
            origins=origins_of(reading),
            progress=progress,
        )
    _print_update(report, settings.index_dir)


@app.command("remove")
def remove_command(
    doc_ids: Annotated[list[str], typer.Argument(help="ids of documents in the index")],
    index: IndexOpt = None,
    collection: CollectionOpt = None,
) -> None:
    """Remove documents from the index. Nothing is removed if any id is unknown."""
    from rag.indexing.updates import update_index

    settings = make_settings(collection=collection, index_dir=index)
    with user_errors():
        report = update_index(settings.index_dir, settings, remove=doc_ids)
    _print_update(report, settings.index_dir)


@app.command("documents")
def documents_command(
    index: IndexOpt = None,
    collection: CollectionOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """List the documents of the index: id, title, date, language and passages."""
    from rich.table import Table

    from rag.index.loading import list_documents

    settings = make_settings(collection=collection, index_dir=index)
    with user_errors():
        documents = list_documents(settings.index_dir)
    if as_json:
        payload = [d.model_dump() for d in documents]
        sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2) + "\n")
        return
    table = Table(box=None, highlight=False)
    table.add_column("id", no_wrap=True)
    for column in ("title", "date", "language", "passages"):
        table.add_column(column, no_wrap=column != "title")
    for d in documents:
        table.add_row(Text(d.id), Text(d.title), d.date or "", d.language, str(d.passages))
    out.print(table)
    out.print(f"{len(documents)} documents, {sum(d.passages for d in documents)} passages")


@app.command("collections")
def collections_command(
    index: IndexOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """List the collections: `default` (the index at --index) and those of
    RAG_COLLECTIONS_DIR, with their embedders and sizes."""
    from rich.table import Table

    from rag.indexing.collections import collection_names, summary

    settings = make_settings(index_dir=index)
    with user_errors():
        listed = [summary(settings, name) for name in collection_names(settings)]
    if as_json:
        payload = [c.model_dump() for c in listed]
        sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2) + "\n")
        return
    table = Table(box=None, highlight=False)
    for column in ("name", "embedder", "documents", "passages", "updated"):
        table.add_column(column, no_wrap=True)
    for c in listed:
        table.add_row(c.name, c.embedder, str(c.documents), str(c.passages), c.updated_at)
    out.print(table)


@app.command("search")
def search_command(
    question: Annotated[str, typer.Argument(help="the question, in French or English")],
    index: IndexOpt = None,
    collection: CollectionOpt = None,
    k: Annotated[int | None, typer.Option("-k", "--k", help="number of passages [5]")] = None,
    mode: Annotated[str, typer.Option(help="dense, bm25 or hybrid")] = "hybrid",
    doc_id: Annotated[
        list[str] | None, typer.Option("--doc-id", help="only these documents (repeatable)")
    ] = None,
    date_from: Annotated[str | None, typer.Option(help="only documents from this date")] = None,
    date_to: Annotated[str | None, typer.Option(help="only documents up to this date")] = None,
    embedder: EmbedderOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Answer QUESTION with ranked passages and their sources."""
    from rag.index.loading import load_index
    from rag.retrieval.search import SearchFilters, search

    settings = make_settings(collection=collection, index_dir=index, embedder=embedder)
    with user_errors():
        filters = SearchFilters.of(
            {"doc_ids": doc_id or None, "date_from": date_from, "date_to": date_to}
        )
        loaded = load_index(settings.index_dir, settings)
        response = search(loaded, question, settings.default_k if k is None else k, mode, filters)
    if as_json:
        payload = response.model_dump()
        sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2) + "\n")
        return
    if not response.results:
        out.print("no passage matches", highlight=False)
    elif not response.answerable:
        out.print(
            f"[yellow]the corpus probably does not answer this (confidence "
            f"{response.confidence:.2f}); the closest passages:[/]",
            highlight=False,
        )
    elif response.confidence is not None:
        out.print(f"answered (confidence {response.confidence:.2f})", highlight=False)
    for r in response.results:
        out.rule(f"[bold]{r.rank}. {escape(r.title)}[/]", align="left")
        page = f" · page {r.page}" if r.page else ""
        where = escape(f"{r.doc_id} [{r.start}:{r.end}]")
        out.print(
            f"[dim]score {r.score:.4f} · {r.date or 'no date'} · {where}{page}[/]",
            highlight=False,
        )
        text = Text(r.text)
        for h in r.highlights:
            text.stylize("bold yellow", h.start - r.start, h.end - r.start)
        out.print(text, highlight=False)


@app.command("eval")
def eval_command(
    gold: Annotated[Path, typer.Option(help="gold set, one JSON question per line")] = Path(
        "eval/gold.jsonl"
    ),
    squad: Annotated[
        Path | None, typer.Option(help="score a SQuAD v1.1 dataset over its own paragraphs")
    ] = None,
    corpus: CorpusOpt = None,
    index: IndexOpt = None,
    collection: CollectionOpt = None,
    embedder: EmbedderOpt = None,
    modes: Annotated[str, typer.Option(help="comma-separated modes")] = "dense,bm25,hybrid",
    chunk_size: Annotated[int | None, typer.Option(help="characters per passage")] = None,
    chunk_overlap: Annotated[int | None, typer.Option(help="characters of overlap")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the scores here")] = None,
    chart: Annotated[Path | None, typer.Option(help="write a PNG chart of the modes here")] = None,
    misses: Annotated[int, typer.Option(help="missed questions to list per mode")] = 20,
    unanswerable: Annotated[
        Path | None,
        typer.Option(
            help="questions the corpus cannot answer, to score refusals "
            "[eval/unanswerable.jsonl with the gold set, if it exists]"
        ),
    ] = None,
) -> None:
    """Score retrieval on a gold set (or a SQuAD dataset) in each mode, side by side."""
    from rag.config import SEARCH_MODES
    from rag.evaluation.metrics import run_evaluation
    from rag.evaluation.report import print_report, write_chart

    settings = make_settings(
        collection=collection,
        existing=False,
        corpus_dir=corpus,
        index_dir=index,
        embedder=embedder,
        chunk_size=chunk_size,
        chunk_overlap=chunk_overlap,
    )
    chosen = [m.strip() for m in modes.split(",") if m.strip()]
    unknown = [m for m in chosen if m not in SEARCH_MODES]
    if unknown or not chosen:
        fail(f"unknown modes {unknown or modes!r}; choose among {', '.join(SEARCH_MODES)}")
    with user_errors(), build_progress() as progress:
        report = run_evaluation(
            settings,
            chosen,
            gold_path=None if squad else gold,
            squad_path=squad,
            index_dir=settings.index_dir,
            progress=progress,
            unanswerable_path=unanswerable or _default_unanswerable(squad),
        )
    print_report(report, out, misses)
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n")
        err.print(f"scores written to {json_out}", highlight=False, markup=False)
    if chart:
        with user_errors():
            write_chart(report, chart)
        err.print(f"chart written to {chart}", highlight=False, markup=False)


def _default_unanswerable(squad: Path | None) -> Path | None:
    """The repository's unanswerable questions, for the corpus they were written for."""
    path = Path("eval/unanswerable.jsonl")
    return path if squad is None and path.exists() else None


@app.command("serve")
def serve_command(
    host: Annotated[str | None, typer.Option(help="address to listen on [127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="port, 0 for any free one [8000]")] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, max=64, help="worker processes [one per core]")
    ] = None,
    index: IndexOpt = None,
    corpus: CorpusOpt = None,
    embedder: EmbedderOpt = None,
    allow_writes: Annotated[
        bool,
        typer.Option(
            "--allow-writes",
            help="accept POST/PUT/DELETE /documents without an API key [RAG_ALLOW_WRITES]",
        ),
    ] = False,
) -> None:
    """Serve the HTTP API, building the index from the corpus first if it is missing.

    The index's changes (rag add, rag remove, rag index, the write routes) are served within a
    second, without a restart."""
    import logging
    import os

    from rag.service.server import serve

    settings = make_settings(
        host=host,
        port=port,
        index_dir=index,
        corpus_dir=corpus,
        embedder=embedder,
        allow_writes=allow_writes or None,  # without the flag, RAG_ALLOW_WRITES decides
    )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("mcp").setLevel(logging.WARNING)  # its session manager's start and stop
    with user_errors():
        try:
            serve(settings, workers or os.cpu_count() or 1)
        except OSError as exc:
            advice = ""
            if exc.errno == errno.EADDRINUSE:
                advice = (
                    "; another process listens there: stop it, or serve on another port with "
                    "--port N (or RAG_PORT=N)"
                )
            fail(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror}{advice}")


@app.command("mcp")
def mcp_command(index: IndexOpt = None, corpus: CorpusOpt = None) -> None:
    """Serve the search tool and the documents over MCP on stdio (for assistants)."""
    from rag.config import DEFAULT_COLLECTION
    from rag.index.live import LiveIndex
    from rag.indexing.build import open_or_build_index
    from rag.service.collections import Collections
    from rag.service.mcp import create_mcp_server

    settings = make_settings(index_dir=index, corpus_dir=corpus)
    with user_errors():
        live = LiveIndex(open_or_build_index(settings), settings)
    live.start()  # answers from the index's latest generation, as `rag serve` does
    collections = Collections(settings)  # the others, by the tool's `collection`
    collections.add_resident(DEFAULT_COLLECTION, live)
    collections.start()
    create_mcp_server(collections.readable).run("stdio")


if __name__ == "__main__":
    app()
