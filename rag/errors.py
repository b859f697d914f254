"""Domain exceptions. Each message says what was received, what is allowed, and what to do.

Only the CLI and the HTTP API turn these into exit codes and status codes.
"""


class RagError(Exception):
    """Base class of every error the service reports to its users."""


class CorpusError(RagError):
    """The corpus folder is missing, empty or unreadable."""


class IndexNotFoundError(RagError):
    """No index at the given folder."""


class IndexCorruptError(RagError):
    """The index folder exists but cannot be read."""


class EmbedderMismatchError(RagError):
    """The index was built with another embedder than the one asked for."""


class UnknownBackendError(RagError):
    """A backend name (embedder, FAISS index type, search mode) is not one we know."""


class MissingExtraError(RagError):
    """An optional dependency is not installed."""


class InvalidQueryError(RagError):
    """The question, k, mode or filters are not acceptable."""


class DocumentNotFoundError(RagError):
    """No document with the given id."""


class RayClusterError(RagError):
    """The Ray cluster cannot be reached, or the embedding job failed on it."""


class SettingsError(RagError, ValueError):
    """Settings that cannot go together once an embedder's defaults are filled in."""


class IndexBusyError(RagError):
    """Another process is changing the index, and did not finish in time."""


class WritesDisabledError(RagError):
    """The server was started without a way to authorise changes to its index."""


class DocumentExistsError(RagError):
    """A document to create has the id of one the index holds."""


class UnsupportedMediaTypeError(RagError):
    """A request body of a type the route does not read."""


class DiskFullError(RagError):
    """The disk that holds the index has no room for a change; nothing was changed."""


class InvalidCollectionNameError(InvalidQueryError):
    """A collection's name that does not follow the rule."""


class CollectionNotFoundError(RagError):
    """No collection of that name (or none the caller may read)."""


class CollectionConflictError(RagError):
    """A change to a collection that its state refuses: deleting `default`, or one that is
    being written to for too long."""


class AccessDeniedError(RagError):
    """The caller's key may read the collection but not change it."""
