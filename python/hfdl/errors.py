"""The exceptions of the hfdl Python API.

Each failure of the bundled ``hfdl`` binary comes back as a JSON report with a stable ``kind``
(see ``src/report.rs``); :func:`from_report` turns it into one of these classes. They are named
as huggingface_hub names its own, and when huggingface_hub is importable they also subclass its
classes, so ``except huggingface_hub.errors.GatedRepoError`` catches hfdl's too. Without
huggingface_hub they form the same hierarchy on their own (``GatedRepoError`` is a
``RepositoryNotFoundError`` is an ``HfHubHTTPError`` is an ``OSError``; ``LocalEntryNotFoundError``
is a ``FileNotFoundError`` and an ``EntryNotFoundError``).

Every class here is also an :class:`HfdlError`, which carries what the binary said: ``kind``,
``causes``, ``hints`` and ``exit_code``. The message is hfdl's own (the failure, its causes, then
what to do), not a copy of huggingface_hub's; there is no HTTP response object behind it, so
``response`` and ``request`` are ``None``.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

try:  # Subclass the official classes when they exist; never require them.
    from huggingface_hub import errors as _hub
except ImportError:  # pragma: no cover - exercised by the venv without huggingface_hub
    _hub = None


class HfdlError(OSError):
    """A failed hfdl run: what the binary reported, with its ``kind``, causes and hints."""

    kind: str = "other"

    def __init__(
        self,
        message: str,
        *,
        kind: str | None = None,
        causes: Sequence[str] = (),
        hints: Sequence[str] = (),
        exit_code: int = 1,
        **_ignored: Any,
    ) -> None:
        # Not super().__init__: huggingface_hub's HfHubHTTPError wants an HTTP response.
        Exception.__init__(self, message)
        self.kind = kind or type(self).kind
        self.causes = list(causes)
        self.hints = list(hints)
        self.exit_code = exit_code
        # The attributes huggingface_hub's HTTP errors have, for code that reads them.
        self.response = None
        self.request = None
        self.request_id = None
        self.server_message = None

    def __reduce_ex__(self, protocol):
        # Picklable (multiprocessing passes exceptions), whatever the bases' own reduce expects.
        state = {"kind": self.kind, "causes": self.causes, "hints": self.hints}
        return (_rebuild, (type(self), str(self), state, self.exit_code))


def _rebuild(cls, message, state, exit_code):
    return cls(message, exit_code=exit_code, **state)


def _bases(*names: str) -> tuple:
    """huggingface_hub's classes of these names, those that exist."""
    if _hub is None:
        return ()
    return tuple(getattr(_hub, n) for n in names if hasattr(_hub, n))


class HfHubHTTPError(HfdlError, *_bases("HfHubHTTPError")):
    """The Hub answered with an error (403, 429, 5xx, ...) that has no class of its own."""

    kind = "http"


class RepositoryNotFoundError(HfHubHTTPError, *_bases("RepositoryNotFoundError")):
    """The repository does not exist, or is private and the token (if any) cannot read it."""

    kind = "repository_not_found"
    repo_id: str | None = None
    repo_type: str | None = None


class GatedRepoError(RepositoryNotFoundError, *_bases("GatedRepoError")):
    """The repository is gated and the token (if any) has not been granted access."""

    kind = "gated"


class RevisionNotFoundError(HfHubHTTPError, *_bases("RevisionNotFoundError")):
    """The revision (branch, tag, commit, ref) does not exist in the repository."""

    kind = "revision_not_found"
    repo_id: str | None = None
    repo_type: str | None = None


class EntryNotFoundError(HfdlError, *_bases("EntryNotFoundError")):
    """A file was not found, on the Hub or on disk."""

    kind = "entry_not_found"


class RemoteEntryNotFoundError(
    HfHubHTTPError, EntryNotFoundError, *_bases("RemoteEntryNotFoundError")
):
    """The file does not exist in the repository at that revision."""

    kind = "entry_not_found"


# huggingface_hub's class already is a FileNotFoundError; naming both would break the MRO.
class LocalEntryNotFoundError(
    EntryNotFoundError, *(_bases("LocalEntryNotFoundError") or (FileNotFoundError,))
):
    """Not on disk, and the Hub may not be asked (offline, ``local_files_only``) or cannot be
    reached."""

    kind = "offline_missing"


class ChecksumMismatchError(HfdlError):
    """The bytes received do not match the file's sha256 (LFS) or git blob sha1, twice: nothing
    was placed. huggingface_hub has no such class (it does not check downloads)."""

    kind = "checksum_mismatch"


class UnverifiableFileError(HfdlError):
    """Neither the Hub's answer nor its listing gave a digest of a file, so hfdl did not place it."""

    kind = "unverifiable"


class TransferError(HfdlError):
    """The transfer failed (connections cut, stalls, short bodies) after every retry."""

    kind = "transfer"


_BY_KIND: Mapping[str, type] = {
    "http": HfHubHTTPError,
    "repository_not_found": RepositoryNotFoundError,
    "gated": GatedRepoError,
    "revision_not_found": RevisionNotFoundError,
    "entry_not_found": RemoteEntryNotFoundError,
    "offline_missing": LocalEntryNotFoundError,
    # huggingface_hub too says LocalEntryNotFoundError when the Hub cannot be reached and the
    # files are not on disk.
    "unreachable": LocalEntryNotFoundError,
    "checksum_mismatch": ChecksumMismatchError,
    "unverifiable": UnverifiableFileError,
    "transfer": TransferError,
}


def message_of(report: Mapping[str, Any]) -> str:
    """The report as text: the failure, each cause, then each hint, one per line."""
    lines = [str(report.get("message", "hfdl failed"))]
    lines += [f"  caused by: {c}" for c in report.get("causes", [])]
    lines += [f"hint: {h}" for h in report.get("hints", [])]
    return "\n".join(lines)


def from_report(report: Mapping[str, Any]) -> BaseException:
    """The exception for the binary's JSON report of a failure."""
    kind = str(report.get("kind", "other"))
    text = message_of(report)
    if kind == "usage":
        return ValueError(text)
    if kind == "interrupted":
        return KeyboardInterrupt(text)
    cls = _BY_KIND.get(kind, HfdlError)
    return cls(
        text,
        kind=kind,
        causes=report.get("causes", []),
        hints=report.get("hints", []),
        exit_code=int(report.get("exit_code", 1)),
    )


__all__ = [
    "ChecksumMismatchError",
    "EntryNotFoundError",
    "GatedRepoError",
    "HfHubHTTPError",
    "HfdlError",
    "LocalEntryNotFoundError",
    "RemoteEntryNotFoundError",
    "RepositoryNotFoundError",
    "RevisionNotFoundError",
    "TransferError",
    "UnverifiableFileError",
    "from_report",
]
