"""Language identification, restricted to the languages the service supports."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from rag.config import Language

if TYPE_CHECKING:
    from lingua import LanguageDetector

SUPPORTED_LANGUAGES: tuple[Language, ...] = ("fr", "en")
_SAMPLE_CHARS = 2000


@lru_cache(maxsize=1)
def _detector() -> LanguageDetector:
    from lingua import Language, LanguageDetectorBuilder

    return LanguageDetectorBuilder.from_languages(Language.FRENCH, Language.ENGLISH).build()


def detect_language(text: str, default: Language = "fr") -> Language:
    """Return "fr" or "en" for `text`; `default` when the text gives no signal."""
    language = _detector().detect_language_of(text[:_SAMPLE_CHARS])
    if language is None:
        return default
    return "en" if language.name == "ENGLISH" else "fr"
