"""hfdl: fast, resumable, verified downloads from the Hugging Face Hub (or a mirror).

``snapshot_download`` and ``hf_hub_download`` take huggingface_hub 2.4's keywords and return the
same paths, so changing the import is the whole migration::

    from hfdl import snapshot_download
    model_dir = snapshot_download(repo_id="org/model", local_dir="/path/to/dir")

They run the ``hfdl`` binary shipped in the same wheel: progress goes to stderr as the CLI's
does, failures raise the classes of ``hfdl.errors`` (named, and when huggingface_hub is
installed also subclassed, as huggingface_hub's).
"""

from importlib.metadata import PackageNotFoundError, version as _version

from . import errors
from ._download import DryRunFileInfo, hf_hub_download, snapshot_download
from .errors import (
    ChecksumMismatchError,
    EntryNotFoundError,
    GatedRepoError,
    HfdlError,
    LocalEntryNotFoundError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

try:
    __version__ = _version("hfdl-rs")
except PackageNotFoundError:  # run from a source tree
    __version__ = "0+unknown"

__all__ = [
    "ChecksumMismatchError",
    "DryRunFileInfo",
    "EntryNotFoundError",
    "GatedRepoError",
    "HfdlError",
    "LocalEntryNotFoundError",
    "RemoteEntryNotFoundError",
    "RepositoryNotFoundError",
    "RevisionNotFoundError",
    "errors",
    "hf_hub_download",
    "snapshot_download",
]
