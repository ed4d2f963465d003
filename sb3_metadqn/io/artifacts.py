"""Reading and writing the project's artifacts: one safetensors file whose header carries a
JSON document under the key ``"metadqn"``, and the registry of artifact kinds.

Tensors go in the safetensors body, everything else (family, spaces, architecture, training
configuration, provenance) in the JSON. Files are written atomically. Reading never
unpickles: a file that is not safetensors (a pickle, a zip, a truncated download) is refused
with an error that says what it looks like.

Every artifact type names its ``kind`` (the document's ``"kind"``) and registers itself with
:func:`register`; :func:`load` reads a file of any registered kind.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from gym_metatasks.atomic_io import write_atomic

METADATA_KEY = "metadqn"
FORMAT = "metadqn-artifact"
FORMAT_VERSION = 1


class ArtifactError(ValueError):
    """An artifact is unreadable, corrupted, or does not fit where it is used."""


class ArtifactType(Protocol):
    """What a registered artifact type provides."""

    kind: ClassVar[str]

    @classmethod
    def from_parts(
        cls, tensors: dict[str, torch.Tensor], document: dict[str, Any], origin: str
    ) -> Any:
        """Rebuild from an artifact's tensors and document, validating both."""

    def info(self) -> dict[str, Any]:
        """A summary for ``metadqn info``."""


TypeT = TypeVar("TypeT", bound=type[ArtifactType])
_REGISTRY: dict[str, type[ArtifactType]] = {}


def register(cls: TypeT) -> TypeT:
    """Register an artifact type under its ``kind`` (a class decorator).

    :raises ValueError: when another type already holds that kind
    """
    kind = cls.kind
    if _REGISTRY.get(kind, cls) is not cls:
        raise ValueError(f"artifact kind {kind!r} is already registered by {_REGISTRY[kind]}")
    _REGISTRY[kind] = cls
    return cls


def kinds() -> list[str]:
    """The registered artifact kinds."""
    return sorted(_REGISTRY)


def artifact_type(kind: Any) -> type[ArtifactType] | None:
    """The type registered for ``kind`` (None: no such kind)."""
    return _REGISTRY.get(kind) if isinstance(kind, str) else None


def from_parts(tensors: dict[str, torch.Tensor], document: dict[str, Any], origin: str) -> Any:
    """The object of an artifact of any registered kind.

    :raises ArtifactError: for an unregistered kind, or parts its type refuses
    """
    target = artifact_type(document.get("kind"))
    if target is None:
        raise ArtifactError(
            f"{origin} holds a {document.get('kind')!r} artifact; known kinds: {kinds()}"
        )
    return target.from_parts(tensors, document, origin)


def load(path: str | os.PathLike[str]) -> Any:
    """The object of the artifact at ``path``, whatever its registered kind."""
    tensors, document = read(path)
    return from_parts(tensors, document, f"artifact {str(path)!r}")


def check_finite(tensors: dict[str, torch.Tensor], origin: str) -> None:
    """Raise :class:`ArtifactError` naming the first tensor that holds NaN or inf."""
    for name, tensor in tensors.items():
        if (tensor.is_floating_point() or tensor.is_complex()) and not bool(
            torch.isfinite(tensor).all()
        ):
            raise ArtifactError(f"{origin}: tensor {name!r} holds NaN or inf")


def check_dtypes(tensors: dict[str, torch.Tensor], allowed: set[torch.dtype], origin: str) -> None:
    """Raise :class:`ArtifactError` naming the first tensor whose dtype is not ``allowed``."""
    for name, tensor in tensors.items():
        if tensor.dtype not in allowed:
            names = sorted(str(d).removeprefix("torch.") for d in allowed)
            raise ArtifactError(
                f"{origin}: tensor {name!r} has dtype {str(tensor.dtype).removeprefix('torch.')}, "
                f"expected one of {names}"
            )


def check_fields(document: dict[str, Any], types: dict[str, Any], origin: str) -> None:
    """Raise :class:`ArtifactError` naming the first key of ``types`` that the document lacks
    or whose value is not of the JSON type given (a type or a tuple of types)."""
    require(document, list(types), origin)
    for key, kind in types.items():
        value = document[key]
        if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            value = None
        if not isinstance(value, kind):
            wanted = " or ".join(t.__name__ for t in (kind if isinstance(kind, tuple) else (kind,)))
            raise ArtifactError(
                f"{origin}: {key!r} must be {wanted.replace('NoneType', 'null')}, "
                f"got {document[key]!r}"
            )


def encode(
    tensors: dict[str, torch.Tensor], document: dict[str, Any], origin: str = "artifact"
) -> bytes:
    """The bytes of an artifact.

    :raises ArtifactError: naming ``origin`` when a tensor holds NaN or inf, or the document
        is not plain JSON (objects, lists, strings, numbers but NaN, booleans, null)
    """
    header = {"format": FORMAT, "format_version": FORMAT_VERSION, **document}
    contiguous = {name: t.detach().cpu().contiguous() for name, t in tensors.items()}
    check_finite(contiguous, origin)
    try:
        text = json.dumps(header, sort_keys=True)
        json.loads(text, parse_constant=_refuse_nan)
    except (TypeError, ValueError) as error:
        raise ArtifactError(f"{origin}: its document is not plain JSON: {error}") from error
    return save_tensors(contiguous, metadata={METADATA_KEY: text})


def write(
    path: str | os.PathLike[str], tensors: dict[str, torch.Tensor], document: dict[str, Any]
) -> Path:
    """Write an artifact atomically.

    :raises OSError: naming ``path`` when it cannot be written (nothing is left behind)
    :raises ArtifactError: naming ``path`` when the content is not valid (nothing is written)
    """
    target = Path(path)
    data = encode(tensors, document, f"artifact {str(target)!r}")
    try:
        write_atomic(target, data)
    except OSError as error:
        raise OSError(f"cannot write artifact to path={str(target)!r}: {error}") from error
    return target


def ensure_writable_directory(directory: Path, name: str) -> None:
    """Create ``directory`` and check a file can be written in it, before any long work.

    :raises OSError: naming the parameter ``name`` and the path
    """
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise OSError(f"{name}={str(directory)!r} cannot be written: {error}") from error


def _describe_foreign(head: bytes) -> str | None:
    if head[:1] == b"\x80" and len(head) > 1 and head[1] <= 5:
        return "a Python pickle (refused without unpickling: artifacts are safetensors)"
    if head[:2] == b"PK":
        return "a zip archive (an SB3 model? load it with MetaDQN.load)"
    return None


def decode(data: bytes, origin: str = "<bytes>") -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Tensors and JSON document of an artifact's bytes.

    :raises ArtifactError: on anything but a complete, well-formed artifact
    """
    foreign = _describe_foreign(data[:8])
    if foreign is not None:
        raise ArtifactError(f"{origin} is {foreign}")
    if len(data) < 8:
        raise ArtifactError(f"{origin} is truncated: {len(data)} bytes, not a safetensors file")
    (header_size,) = struct.unpack("<Q", data[:8])
    if header_size > len(data) - 8:
        raise ArtifactError(
            f"{origin} is truncated or not safetensors: header of {header_size} bytes, "
            f"file of {len(data)} bytes"
        )
    try:
        header = json.loads(data[8 : 8 + header_size])
        tensors = load_tensors(data)
    except (SafetensorError, ValueError, UnicodeDecodeError) as error:
        raise ArtifactError(f"{origin} is corrupted or truncated: {error}") from error
    expected = max(
        (
            end
            for spec in header.values()
            if isinstance(spec, dict) and "data_offsets" in spec
            for end in spec["data_offsets"][1:]
        ),
        default=0,
    )
    if len(data) != 8 + header_size + expected:
        raise ArtifactError(
            f"{origin} is truncated or has trailing bytes: expected {8 + header_size + expected} "
            f"bytes, got {len(data)}"
        )
    metadata = header.get("__metadata__") or {}
    if METADATA_KEY not in metadata:
        raise ArtifactError(f"{origin} is a safetensors file without a '{METADATA_KEY}' document")
    try:
        document = json.loads(metadata[METADATA_KEY], parse_constant=_refuse_nan)
    except ValueError as error:
        raise ArtifactError(
            f"{origin}: its '{METADATA_KEY}' document is not JSON: {error}"
        ) from error
    if not isinstance(document, dict):
        raise ArtifactError(
            f"{origin}: its '{METADATA_KEY}' document must be a JSON object, got "
            f"{type(document).__name__}"
        )
    if document.get("format") != FORMAT:
        raise ArtifactError(f"{origin}: format {document.get('format')!r}, expected {FORMAT!r}")
    if document.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(
            f"{origin}: format_version {document.get('format_version')!r} is not supported "
            f"(this version reads {FORMAT_VERSION})"
        )
    check_finite(tensors, origin)
    return tensors, document


def _refuse_nan(name: str) -> float:
    """JSON constants: infinities are space bounds; NaN is never a valid value."""
    if name == "NaN":
        raise ValueError("NaN is not a valid value")
    return float(name)


def read(path: str | os.PathLike[str]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Tensors and JSON document of the artifact at ``path``."""
    target = Path(path)
    if not target.is_file():
        raise FileNotFoundError(f"no artifact at path={str(target)!r}")
    return decode(target.read_bytes(), origin=f"artifact {str(target)!r}")


def require(mapping: dict[str, Any], keys: list[str], origin: str) -> None:
    """Raise :class:`ArtifactError` naming the first missing key."""
    for key in keys:
        if key not in mapping:
            raise ArtifactError(f"{origin} is missing the key {key!r}")
