"""Where Shoal keeps its caches and which environment variables it reads."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "api_key",
    "cache_dir",
    "dotenv_path",
    "embedding_cache_bytes",
    "filter_max_values",
    "index_compress_bytes",
    "num_threads",
    "offline",
]

_DEFAULT_EMBEDDING_CACHE_MB = 1024
_DEFAULT_FILTER_MAX_VALUES = 100_000


def cache_dir() -> Path:
    """Shoal's cache folder: $SHOAL_CACHE_DIR, else $XDG_CACHE_HOME/shoal, else ~/.cache/shoal."""
    explicit = os.environ.get("SHOAL_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "shoal"


def offline() -> bool:
    """True when the user asked for no network access (SHOAL_OFFLINE or HF_HUB_OFFLINE)."""
    truthy = {"1", "true", "yes", "on"}
    return any(
        os.environ.get(name, "").strip().lower() in truthy
        for name in ("SHOAL_OFFLINE", "HF_HUB_OFFLINE")
    )


def num_threads() -> int:
    """Threads for local inference: $SHOAL_NUM_THREADS, else the number of usable cores."""
    explicit = os.environ.get("SHOAL_NUM_THREADS")
    if explicit:
        try:
            value = int(explicit)
        except ValueError:
            value = 0
        if value > 0:
            return value
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def embedding_cache_bytes() -> int:
    """Bound of the embedding cache: $SHOAL_EMBEDDING_CACHE_MB megabytes, else 1024 MB."""
    explicit = os.environ.get("SHOAL_EMBEDDING_CACHE_MB", "").strip()
    try:
        megabytes = float(explicit) if explicit else _DEFAULT_EMBEDDING_CACHE_MB
    except ValueError:
        megabytes = _DEFAULT_EMBEDDING_CACHE_MB
    if megabytes <= 0:
        megabytes = _DEFAULT_EMBEDDING_CACHE_MB
    return max(1, int(megabytes * 2**20))


def filter_max_values() -> int:
    """How many values a filter's $in / $nin lists may hold in all: $SHOAL_FILTER_MAX_VALUES,
    else 100,000 (Lance plans 100,000 strings in about 1.2 s and 0.4 GB; 1M in 17 s, 2.6 GB)."""
    explicit = os.environ.get("SHOAL_FILTER_MAX_VALUES", "").strip()
    try:
        value = int(explicit) if explicit else _DEFAULT_FILTER_MAX_VALUES
    except ValueError:
        value = _DEFAULT_FILTER_MAX_VALUES
    return value if value > 0 else _DEFAULT_FILTER_MAX_VALUES


def index_compress_bytes() -> int:
    """Vector bytes above which a new vector index stores 8-bit codes rather than float32
    vectors, unless the dataset records a choice: $SHOAL_INDEX_COMPRESS_MB, else a quarter of
    this machine's memory (the flat index's vectors must stay in memory beside Lance's pages
    and the process for sub-millisecond walks; the codes take a quarter of the space)."""
    explicit = os.environ.get("SHOAL_INDEX_COMPRESS_MB", "").strip()
    try:
        megabytes = float(explicit) if explicit else 0.0
    except ValueError:
        megabytes = 0.0
    if megabytes > 0:
        return int(megabytes * 2**20)
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not on this platform: assume 8 GB
        memory = 8 * 2**30
    return max(1, int(memory) // 4)


def dotenv_path(start: Path | None = None) -> Path | None:
    """The nearest `.env` file in `start` (default: the working directory) or a parent."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / ".env"
        if candidate.is_file():
            return candidate
    return None


def api_key(variable: str) -> str | None:
    """The value of `variable` from the environment, else from the nearest `.env` file.

    The environment wins over `.env`, as with python-dotenv's defaults; neither is
    changed, and the value is never logged.
    """
    value = os.environ.get(variable, "").strip()
    if value:
        return value
    path = dotenv_path()
    if path is None:
        return None
    try:
        from dotenv import dotenv_values  # read only when a key is looked up: ~9 ms

        found = dotenv_values(path).get(variable)
    except (OSError, UnicodeDecodeError):
        return None
    return found.strip() if found and found.strip() else None
