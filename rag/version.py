"""The version of rag: its package's metadata, which `pyproject.toml` sets."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("rag")
except PackageNotFoundError:  # a checkout run without being installed
    __version__ = "0+unknown"
