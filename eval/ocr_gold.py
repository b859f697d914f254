"""The gold set carried over to the OCR text of scanned articles, to score retrieval on scans.

OCR changes characters (’ read as ', à as a), so a gold quote is seldom found as written in the
OCR text. Each quote is found in the `.txt` article, then carried over to the same place in the
OCR text by aligning the two texts (difflib's matching blocks): the quote becomes the OCR text
between the aligned start and end. A question keeps its id, language and question.

    RAG_OCR=true python eval/ocr_gold.py SCANNED_CORPUS --out /tmp/gold-ocr.jsonl
    RAG_OCR=true rag eval --corpus SCANNED_CORPUS --gold /tmp/gold-ocr.jsonl
"""

from __future__ import annotations

import argparse
import bisect
import difflib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag.config import Settings  # noqa: E402
from rag.evaluation.gold import quote_spans  # noqa: E402
from rag.ingest.corpus import load_corpus  # noqa: E402
from rag.ingest.formats import FormatLimits  # noqa: E402


class Alignment:
    """Offsets of one text mapped onto another through their matching blocks."""

    def __init__(self, a: str, b: str):
        blocks = difflib.SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks()
        self.blocks = [blk for blk in blocks if blk.size]
        self.starts = [blk.a for blk in self.blocks]

    def __call__(self, offset: int) -> int:
        i = max(0, bisect.bisect_right(self.starts, offset) - 1)
        block = self.blocks[i]
        return block.b + min(offset - block.a, block.size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("scanned", type=Path, help="the corpus as scanned PDFs")
    parser.add_argument("--gold", type=Path, default=ROOT / "eval" / "gold.jsonl")
    parser.add_argument("--corpus", type=Path, default=ROOT / "corpus")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    texts = {d.id: d.text for d in load_corpus(args.corpus)}
    scanned = {d.id: d.text for d in load_corpus(args.scanned, FormatLimits.of(Settings()))}
    alignments = {doc_id: Alignment(texts[doc_id], scanned[doc_id]) for doc_id in scanned}
    lines = []
    for line in args.gold.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        for answer in record["answers"]:
            start, end = quote_spans(answer["text"], texts[answer["doc_id"]])[0]
            align = alignments[answer["doc_id"]]
            answer["text"] = scanned[answer["doc_id"]][align(start) : align(end)].strip()
        lines.append(json.dumps(record, ensure_ascii=False))
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{len(lines)} questions carried over to {args.out}")


if __name__ == "__main__":
    main()
