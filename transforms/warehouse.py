"""The warehouse as a series of complete versions, made current by one atomic rename.

    <warehouse>/versions/<id>/            one complete publication: public/, interne/, rapports/, publications/,
                                          ess.duckdb, dictionnaire_donnees.md/.csv and publication.json (its index).
                                          Files unchanged since the previous version are hard links to it, so a new
                                          version costs only what changed.
    <warehouse>/courant -> versions/<id>  relative symbolic link: THE current publication
    <warehouse>/public -> courant/public  stable entry points, created once and never changed (also interne,
                                          rapports, publications, ess.duckdb, dictionnaire_donnees.md/.csv)
    <warehouse>/.construction/<id>/       a publication being prepared by a run (tables, report) outside the lock;
                                          <id>.lock is held by its process while it lives
    <warehouse>/.ess.lock                 the warehouse lock: one writer of versions at a time

A new version is built beside the current one, under the warehouse lock, from the current one plus the changes of
one publication; then `courant` is replaced by a new symbolic link with rename(2), which is atomic. A reader, or a
run that starts after a crash at any instant, finds either the previous version or the new one, whole. What a crash
leaves behind (a version that never became current, the preparation folder of a dead process, a half-made link) is
removed by the next writer before it starts. The current version and the one before it are kept (a reader who
opened the previous catalog just before the switch can finish; `ln -s versions/<id> courant.new && mv -T courant.new
courant` rolls back by hand); older versions are deleted.

Several départements publishing into one warehouse (`ess france`, parallel processes) prepare their files in
parallel and take turns for the short commit: each new version starts from the version that is current when it gets
the lock, so no publication overwrites another's.

Nothing here knows what the files are: transforms/publish.py decides the tables, the catalog and the manifests.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import json
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from ess.errors import UserError
from ess.locking import file_lock, held_by_someone, warehouse_lock

CURRENT = "courant"
VERSIONS = "versions"
STAGING = ".construction"
INDEX = "publication.json"
FOLDERS = ("public", "interne", "rapports", "publications")  # carried from version to version
ENTRY_POINTS = FOLDERS + ("ess.duckdb", "dictionnaire_donnees.md", "dictionnaire_donnees.csv")
KEEP_PREVIOUS = 1  # versions kept before the current one
# Private folders and files of the publication before versions existed (removed when found).
LEGACY_LEFTOVERS = (".transactions", ".ess.duckdb.tmp")
_NO_HARD_LINK = {errno.EXDEV, errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK}


def current_dir(warehouse: Path) -> Path | None:
    """The folder of the current version, or None when nothing was ever published in the versioned layout."""
    link = Path(warehouse) / CURRENT
    if not link.is_symlink():
        return None
    target = Path(warehouse) / os.readlink(link)
    if not target.is_dir():
        raise UserError(f"{link} points to {target}, which does not exist: the warehouse was damaged by hand. "
                        f"Point it at a folder of {Path(warehouse) / VERSIONS} (ln -sfn {VERSIONS}/<id> {link}) "
                        "and run again")
    return target


def read_index(version: Path | None) -> dict:
    """publication.json of a version ({} when there is none)."""
    if version is None:
        return {}
    try:
        return json.loads((Path(version) / INDEX).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}


@contextlib.contextmanager
def staging_area(warehouse: Path):
    """A private folder on the warehouse's file system (so that moving its files into a version is a rename), for
    files prepared outside the lock. It is deleted at the end; if the process dies, the next writer deletes it
    (its lock file is then free)."""
    base = Path(warehouse) / STAGING
    base.mkdir(parents=True, exist_ok=True)
    name = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    lock = base / f"{name}.lock"
    with file_lock(lock):
        folder = base / name
        folder.mkdir()
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            lock.unlink(missing_ok=True)


def commit(warehouse: Path, changes: dict[str, Path | None], finish: Callable[[Path, str], dict | None], *,
           regenerated: tuple[str, ...] = (), description: dict | None = None,
           wait_seconds: float = 0.0) -> dict:
    """Make a new current version: the current one, with every `changes` path (relative to a version's root)
    replaced by the staged file or folder it maps to (moved, not copied) or removed when it maps to None. Then
    `finish(root, version_id)` writes the files derived from the whole version (catalog, dictionary: the names in
    `regenerated`, never carried over) and may return more for the index. Returns the new version's index."""
    warehouse = Path(warehouse)
    warehouse.mkdir(parents=True, exist_ok=True)
    with warehouse_lock(warehouse, wait_seconds=wait_seconds):
        recover(warehouse)
        base = current_dir(warehouse)
        if base is None and legacy_entries(warehouse):
            base = warehouse  # first publication since versions: the old layout's folders become the base
        version_id = _new_id()
        root = warehouse / VERSIONS / version_id
        root.mkdir(parents=True)
        try:
            skip = {PurePosixPath(p) for p in (*changes, *regenerated, INDEX)}
            if base is not None:
                link_tree(base, root, skip)
            for rel, staged in sorted(changes.items()):
                if staged is not None:
                    move_in(Path(staged), root / rel)
            for folder in FOLDERS:
                (root / folder).mkdir(exist_ok=True)
            extra = finish(root, version_id) or {}
            previous = base.name if base is not None and base != warehouse else None
            index = {"version": version_id, "precedente": previous,
                     "creee_le": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                     **(description or {}), **extra}
            write_json_atomic(root / INDEX, index)
            make_durable(root)
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise
        switch(warehouse, version_id)
        ensure_entry_points(warehouse)
        prune(warehouse)
    return index


def _new_id() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ") + "-" + uuid.uuid4().hex[:6]


def _skipped(rel: PurePosixPath, skip: set[PurePosixPath]) -> bool:
    return rel in skip or any(parent in skip for parent in rel.parents)


def link_tree(source: Path, root: Path, skip: set[PurePosixPath]) -> None:
    """Hard-link every file of the carried folders of `source` into `root`, except the `skip` paths (and what is
    under them) and hidden files (temporary files of a writer)."""
    for top in FOLDERS:
        if not (source / top).is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(source / top):
            rel_dir = PurePosixPath(Path(dirpath).relative_to(source).as_posix())
            if _skipped(rel_dir, skip):
                dirnames[:] = []
                continue
            (root / rel_dir).mkdir(parents=True, exist_ok=True)
            for name in sorted(filenames):
                rel = rel_dir / name
                if not name.startswith(".") and not _skipped(rel, skip):
                    link_file(source / rel, root / rel)


def link_file(source: Path, target: Path) -> None:
    """A hard link (published files are never modified in place, so versions can share them); a copy where the
    file system has no hard links."""
    try:
        os.link(source, target)
    except OSError as exc:
        if exc.errno not in _NO_HARD_LINK:
            raise
        shutil.copy2(source, target)


def move_in(staged: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    os.rename(staged, target)


def write_json_atomic(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)


def switch(warehouse: Path, version_id: str) -> None:
    """THE commit: `courant` now names the new version (rename(2) of a new link over the old one)."""
    tmp = warehouse / f".{CURRENT}-{version_id}"
    os.symlink(f"{VERSIONS}/{version_id}", tmp)
    os.replace(tmp, warehouse / CURRENT)
    _fsync_dir(warehouse)


def make_durable(root: Path) -> None:
    """Flush every file and folder of a version to disk before it becomes current: after a power cut (not only a
    killed process) the version `courant` names is then whole. Files shared with earlier versions are already on
    disk; flushing them again costs little."""
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            path = os.path.join(dirpath, name)
            if os.path.islink(path):
                continue
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(dirpath))
    _fsync_dir(root.parent)


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable (a power cut right after the commit keeps it); some file systems refuse."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def legacy_entries(warehouse: Path) -> list[str]:
    """Entry points that are real files or folders: the layout before versions (or an interrupted migration)."""
    return [n for n in ENTRY_POINTS if (warehouse / n).exists() and not (warehouse / n).is_symlink()]


def ensure_entry_points(warehouse: Path) -> None:
    """Every entry point is the link `<name> -> courant/<name>`. A real folder of the old layout is moved aside,
    replaced by its link, then deleted (its files live on, hard-linked, in the current version)."""
    for name in ENTRY_POINTS:
        path = warehouse / name
        target = f"{CURRENT}/{name}"
        if path.is_symlink() and os.readlink(path) == target:
            continue
        tmp = warehouse / f".{name}.lien-{uuid.uuid4().hex[:8]}"
        os.symlink(target, tmp)
        if path.is_dir() and not path.is_symlink():
            aside = warehouse / f".ancien-{name}-{uuid.uuid4().hex[:8]}"
            os.rename(path, aside)
            os.replace(tmp, path)
            shutil.rmtree(aside)
        else:
            os.replace(tmp, path)


def recover(warehouse: Path) -> None:
    """Remove what crashed writers left. Call it holding the warehouse lock: a version being built or a link being
    made then belongs to a dead process; a preparation folder is dead when its lock file is free."""
    for path in warehouse.iterdir():
        name = path.name
        if name.startswith((f".{CURRENT}-", ".ancien-")) or ".lien-" in name or name in LEGACY_LEFTOVERS:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
    staging = warehouse / STAGING
    if staging.is_dir():
        for path in staging.iterdir():
            if path.is_dir() and not held_by_someone(staging / f"{path.name}.lock"):
                shutil.rmtree(path, ignore_errors=True)
        for path in staging.glob("*.lock"):
            if not (staging / path.stem).exists() and not held_by_someone(path):
                path.unlink(missing_ok=True)
    if current_dir(warehouse) is not None:
        ensure_entry_points(warehouse)
    prune(warehouse)


def prune(warehouse: Path) -> None:
    """Delete every version but the current one and the KEEP_PREVIOUS before it, and unfinished ones (no index:
    never current). With no current version (someone removed the link), finished versions are all kept."""
    folder = warehouse / VERSIONS
    if not folder.is_dir():
        return
    version = current_dir(warehouse)
    if version is None:
        keep = {p.name for p in folder.iterdir() if (p / INDEX).is_file()}
    else:
        keep = set()
    while version is not None and len(keep) <= KEEP_PREVIOUS:
        keep.add(version.name)
        previous = read_index(version).get("precedente")
        version = folder / previous if previous and (folder / previous).is_dir() else None
    for path in folder.iterdir():
        if path.name not in keep:
            shutil.rmtree(path, ignore_errors=True)
