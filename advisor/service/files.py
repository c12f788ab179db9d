"""The data folder and the token: private whatever the umask (folders 0700, files 0600); a job's exported packages."""

from __future__ import annotations

import os
import secrets
import threading
from pathlib import Path

from advisor.errors import AdvisorError
from advisor.service.models import MIN_TOKEN_CHARS

# -- the data folder: private whatever the umask ------------------------------------------------------


def private_dir(path: Path) -> Path:
    """``path`` as a folder only its owner can enter (0700), created with its parents when missing."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.stat().st_mode & 0o777 != 0o700:
        path.chmod(0o700)
    return path


def private_opener(path: str, flags: int) -> int:
    """An ``opener`` for :func:`open`: the file is created (or cut down to) mode 0600."""
    fd = os.open(path, flags, 0o600)
    os.fchmod(fd, 0o600)
    return fd


def write_private(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8", opener=private_opener) as f:
        f.write(text)


def tighten(data_dir: Path) -> None:
    """Files a previous version (or another umask) left readable by others: the store and the token."""
    for name in ("store.sqlite", "store.sqlite-wal", "store.sqlite-shm", "token"):
        path = data_dir / name
        if path.is_file() and not path.is_symlink() and path.stat().st_mode & 0o077:
            path.chmod(0o600)


# -- the token -----------------------------------------------------------------------------------------


def check_token(token: str, where: str, fix: str) -> str:
    if len(token) < MIN_TOKEN_CHARS:
        raise AdvisorError(f"{where}: the token has {len(token)} characters, fewer than {MIN_TOKEN_CHARS}; {fix}")
    return token


def token_for(data_dir: Path) -> str:
    """``$ADVISOR_TOKEN``, else the token kept in ``<data_dir>/token`` (made on first start, readable by the owner only).

    Raises:
        AdvisorError: the token is shorter than ``MIN_TOKEN_CHARS``, or the token file can be read
            or written by other users; the message names the fix.
    """
    new = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
    env = os.environ.get("ADVISOR_TOKEN")
    if env:
        return check_token(env.strip(), "$ADVISOR_TOKEN", f"set a longer one, e.g. export ADVISOR_TOKEN=$({new})")
    path = data_dir / "token"
    if path.is_file():
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise AdvisorError(
                f"{path}: the token file is open to other users (mode {mode:04o}); make it readable by its owner only: chmod 600 {path}"
            )
        return check_token(
            path.read_text(encoding="utf-8").strip(),
            str(path),
            f"write a longer one ({new} > {path}) or delete the file to have one generated",
        )
    private_dir(data_dir)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token)
    return token


_EXPORTING = threading.Lock()


def package_zip(job_dir: Path, candidate: str | None) -> Path:
    """A complete job's model exported (and checked) once, zipped, under the job's ``packages/`` folder.

    Raises:
        AdvisorError: the candidate cannot be exported (unknown, not fully measured, no fitted state, failed its check).
    """
    import shutil

    from advisor.core.results import Recommendation
    from advisor.deploy.build import export
    from advisor.paths import slug

    rec = Recommendation.load(next((job_dir / "reports").glob("*/results.json")))
    name = candidate or rec.model or ""
    import hashlib

    folder = private_dir(job_dir / "packages") / f"{slug(name, 60)}-{hashlib.sha256(name.encode()).hexdigest()[:10]}"
    archive = folder.with_name(folder.name + ".zip")
    with _EXPORTING:  # one export at a time: each loads a model and meters it
        if not archive.is_file():
            export(rec, folder, candidate=candidate, force=True)
            tmp = shutil.make_archive(str(folder.with_name(f".{folder.name}.tmp")), "zip", folder)
            Path(tmp).replace(archive)
    return archive
