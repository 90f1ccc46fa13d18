"""Validation of artifact paths supplied by clients.

Every path that reaches an artifact store goes through :func:`safe_relpath` first. The rules are
deliberately stricter than a plain ``posixpath.normpath``: MLflow itself shipped several path
traversal bugs (CVE-2023-6831: ``..`` hidden behind URL encoding in the artifact ``path``;
CVE-2024-1560: the same class of bypass through a different handler, fixed by decoding until
stable before checking), so the check runs on the input *and on every URL-decoded form of it* and
rejects rather than repairs anything that looks hostile.
"""

from __future__ import annotations

import functools
import re
import unicodedata
import urllib.parse

from storage.base import UnsafePath

__all__ = ["is_reachable_name", "join_relpath", "safe_relpath", "split_relpath"]

# Decoding more than this many times without reaching a fixed point is itself hostile.
_MAX_DECODE_ROUNDS = 10
# Far beyond any real artifact path (S3 keys stop at 1024 bytes, Linux paths at 4096), and
# small enough that no recursive filesystem helper (os.makedirs) can be driven into the ground.
MAX_PATH_CHARS = 4096
MAX_SEGMENTS = 256
# "C:", "c:foo" - a Windows drive as the first segment.
_DRIVE = re.compile(r"^[A-Za-z]:")
# "file://", "s3://", "mlflow-artifacts://" - a URI smuggled in as a path.
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
# Unicode's control characters, category Cc, exactly: C0, DEL and C1.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def _decoded_forms(path: str) -> list[str]:
    """The path and each successive percent-decoding of it, up to the fixed point."""
    forms = [path]
    current = path
    for _ in range(_MAX_DECODE_ROUNDS):
        decoded = urllib.parse.unquote(current, errors="strict") if "%" in current else current
        if decoded == current:
            return forms
        forms.append(decoded)
        current = decoded
    raise UnsafePath(f"Invalid path {path!r}: too many levels of percent-encoding")


def _check_form(original: str, form: str) -> None:
    def reject(reason: str) -> None:
        raise UnsafePath(f"Invalid path {original!r}: {reason}")

    if _CONTROL.search(form):
        reject("control characters (including NUL) are not allowed")
    if "\\" in form:
        reject("backslashes are not allowed")
    if "#" in form:
        # MLflow's validate_path_is_safe refuses '#' too (URI fragment ambiguity).
        reject("'#' is not allowed")
    if form.startswith("/"):
        reject("absolute paths are not allowed")
    if _DRIVE.match(form):
        reject("drive letters are not allowed")
    if _SCHEME.match(form):
        reject("URIs are not allowed where a relative path is expected")
    if ".." in form.split("/"):
        reject("'..' segments are not allowed")


# Paths up to this long have their answers remembered: a request checks the same few paths at each
# layer it passes (a model version's creation: nine checks of four paths), and a refusal is not
# remembered (it raises). At most _REMEMBERED of them: about 1 MiB.
_REMEMBER_CHARS = 512
_REMEMBERED = 1024


def safe_relpath(path: str) -> str:
    """Validate and normalise a client-supplied relative artifact path.

    Returns the POSIX relative path with empty and ``.`` segments collapsed (``""`` is the root
    of the store). Raises :class:`UnsafePath` for ``..`` segments, absolute paths (``/x``,
    ``//host/x``), backslashes, drive letters, URIs, NUL and other control characters and ``#``
    - in the input as given, in every percent-decoded form of it (``%2e%2e%2f``,
    ``%252e%252e%252f``, ...) and in the NFKC-normalised forms of those (``\\u2025`` is "..").
    Paths longer than ``MAX_PATH_CHARS`` or deeper than ``MAX_SEGMENTS`` are refused as well.

    Like MLflow's ``validate_path_is_safe``, the result is the fully decoded form (``a%20b.txt``
    -> ``a b.txt``): the fixed point of decoding, so decoding it again changes nothing, and the
    names a listing returns round-trip through the MLflow client, which does not quote them.
    """
    if type(path) is str and len(path) <= _REMEMBER_CHARS:
        return _remembered(path)
    return _safe_relpath(path)


@functools.lru_cache(maxsize=_REMEMBERED)
def _remembered(path: str) -> str:
    return _safe_relpath(path)


def _safe_relpath(path: str) -> str:
    if not isinstance(path, str):
        raise UnsafePath(f"Invalid path {path!r}: expected a string")
    if len(path) > MAX_PATH_CHARS:
        raise UnsafePath(f"Invalid path: longer than {MAX_PATH_CHARS} characters")
    try:
        forms = _decoded_forms(path)
    except UnicodeDecodeError:
        raise UnsafePath(f"Invalid path {path!r}: percent-encoding is not valid UTF-8") from None
    for form in forms:
        _check_form(path, form)
        if form.isascii():
            continue  # ASCII is its own NFKC form
        normalised = unicodedata.normalize("NFKC", form)
        if normalised != form:
            _check_form(path, normalised)
    segments = [s for s in forms[-1].split("/") if s not in ("", ".")]
    if len(segments) > MAX_SEGMENTS:
        raise UnsafePath(f"Invalid path: more than {MAX_SEGMENTS} levels deep")
    return "/".join(segments)


def join_relpath(*parts: str) -> str:
    """Join relative path pieces with ``/`` and validate the result with :func:`safe_relpath`.

    Each piece is validated on its own as well, so ``join_relpath("a", "/etc")`` is refused
    rather than silently turned into ``a/etc``.
    """
    cleaned = [safe_relpath(part) for part in parts]
    return safe_relpath("/".join(p for p in cleaned if p))


def split_relpath(path: str) -> tuple[str, str]:
    """``"a/b/c.txt"`` -> ``("a/b", "c.txt")``; ``"c.txt"`` -> ``("", "c.txt")``."""
    rel = safe_relpath(path)
    head, _, tail = rel.rpartition("/")
    return head, tail


def is_reachable_name(name: str) -> bool:
    """Whether a directory entry found in a store (possibly put there by another tool) can be
    addressed through :func:`safe_relpath`, i.e. is one canonical segment. Listings skip the
    others (``a\\b``, ``..``, ``%41``, control characters), which no client could fetch anyway."""
    try:
        return "/" not in name and bool(name) and safe_relpath(name) == name
    except UnsafePath:
        return False
