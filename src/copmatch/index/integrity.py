"""Cheap checks of a snapshot before it is served: does every file it reads look whole?

Opening a snapshot checks, against its manifest: every file exists with the size recorded
(``sizes``, written since the manifest has them), the vector files' .npy headers give the
shapes the counts say (n_passages x dimension, n_members x dimension, float32), and every
file up to ``verify_max_bytes`` matches its SHA-256 (small snapshots are read whole
anyway, so hashing them costs a few milliseconds; larger files are read row by row on
demand and only their size and header are checked here). ``copmatch index status
--check`` hashes every file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from copmatch.digests import file_sha256
from copmatch.index.snapshot import MANIFEST, PASSAGE_VECTORS, PROFILE_VECTORS

#: Files up to this size are checked against their SHA-256 whenever a snapshot is opened.
VERIFY_MAX_BYTES = 64 * 2**20
_REQUIRED_KEYS = ("version", "format", "model_id", "dimension", "counts", "dense", "checksums")


def problems(path: Path, manifest: dict[str, Any], verify_max_bytes: int = VERIFY_MAX_BYTES) -> list[str]:
    """What is wrong with the snapshot at ``path`` (empty when it looks intact), cheaply."""
    missing_keys = [k for k in _REQUIRED_KEYS if k not in manifest]
    if missing_keys:
        return [f"{MANIFEST}: missing {', '.join(missing_keys)}"]
    found: list[str] = []
    sizes: dict[str, int] = manifest.get("sizes") or {}
    for name, digest in sorted(manifest["checksums"].items()):
        file = path / name
        if not file.is_file():
            found.append(f"{name}: missing")
            continue
        size = file.stat().st_size
        if name in sizes and size != sizes[name]:
            found.append(f"{name}: {size} bytes, the manifest says {sizes[name]}")
        elif size <= verify_max_bytes and file_sha256(file) != digest:
            found.append(f"{name}: contents differ from the manifest's checksum")
    counts, dimension = manifest["counts"], manifest["dimension"]
    for name, rows in ((PASSAGE_VECTORS, counts.get("passages")), (PROFILE_VECTORS, counts.get("members"))):
        if (path / name).is_file():
            problem = _npy_problem(path / name, (rows, dimension))
            if problem:
                found.append(f"{name}: {problem}")
    return found


def _npy_problem(file: Path, shape: tuple[Any, Any]) -> str | None:
    """Why a vector file is not a float32 array of ``shape`` with all its bytes, or None."""
    try:
        with file.open("rb") as handle:
            version = np.lib.format.read_magic(handle)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            found_shape, fortran, dtype = read(handle)
            offset = handle.tell()
    except (ValueError, OSError, SyntaxError) as exc:
        return f"not a readable .npy file ({exc})"
    if tuple(found_shape) != tuple(shape) or fortran or np.dtype(dtype) != np.float32:
        return f"holds {np.dtype(dtype)} {tuple(found_shape)}, expected float32 {tuple(shape)}"
    expected = offset + int(np.prod(found_shape)) * 4
    if file.stat().st_size != expected:
        return f"{file.stat().st_size} bytes, a float32 {tuple(shape)} array takes {expected}"
    return None


def damage_names(damage: list[str], name: str) -> bool:
    """Whether a problem about file ``name`` is already in ``damage``."""
    return any(problem.startswith(f"{name}:") for problem in damage)
