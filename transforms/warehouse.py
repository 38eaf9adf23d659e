"""The warehouse as a series of complete versions, made current by one atomic rename.

    <warehouse>/versions/<id>/            one complete publication: public/, interne/, rapports/, publications/,
                                          ess.duckdb, dictionnaire_donnees.md/.csv, METHOD.md and publication.json
                                          (its index).
                                          Files unchanged since the previous version are hard links to it, so a new
                                          version costs only what changed.
    <warehouse>/courant -> versions/<id>  relative symbolic link: THE current publication
    <warehouse>/public -> courant/public  stable entry points, created once and never changed (also interne,
                                          rapports, publications, ess.duckdb, dictionnaire_donnees.md/.csv,
                                          METHOD.md)
    <warehouse>/.construction/<id>/       a publication being prepared by a run (tables, report) outside the lock;
                                          <id>.lock is held by its process while it lives
    <warehouse>/.ess.lock                 the warehouse lock: one writer of versions at a time

A new version is built beside the current one, under the warehouse lock, from the current one plus the changes of
one publication; then `courant` is replaced by a new symbolic link with rename(2), which is atomic. A reader, or a
run that starts after a crash at any instant, finds either the previous version or the new one, whole. What a crash
leaves behind (a version that never became current, the preparation folder of a dead process, a half-made link) is
removed by the next writer before it starts.

A rollback (`rollback()`) makes a kept version current again by the same switch, under the same lock: no new
version, so the files and the paths of the restored version (those its manifests record) are the very ones it had.
Its new history is written, flushed, beside the version's own (PENDING_HISTORY) before the switch and replaces it
after: until then it counts only if `courant` names that version, so a rollback killed before its switch leaves no
version claiming it was made current, and the next writer finishes or removes it (`recover()`).

Every version holds its history (historique.json): each time a version became current in this warehouse — a
publication, a report, a rollback —, oldest first, ending with itself. It is written before the switch (a rollback's
as its pending history), so the current version's history is always whole, and it outlives the versions it names (a
rollback says which versions it withdrew).

Retention (`kept()`): the current version, the one current just before it (what a rollback goes back to), and every
version until KEEP_NEWER newer versions have been published after it (a rollback publishes none); the others are
deleted at the next change of the current version. In a history without rollback, that is the current version and
the previous one. A reader who opened an older catalog just before a switch can finish.

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
import time
import uuid
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from ess.errors import UserError
from ess.locking import locked_folder, remove_dead_folders, warehouse_lock

CURRENT = "courant"
VERSIONS = "versions"
STAGING = ".construction"
INDEX = "publication.json"
HISTORY = "historique.json"
# A rollback's new history for the version it makes current, until the switch has happened (rollback())
PENDING_HISTORY = "historique.en_attente.json"
ROLLBACK = "retour_arriere"  # the type of a history event that made an older version current again
FOLDERS = ("public", "interne", "rapports", "publications")  # carried from version to version
ENTRY_POINTS = FOLDERS + ("ess.duckdb", "dictionnaire_donnees.md", "dictionnaire_donnees.csv", "METHOD.md")
KEEP_NEWER = 2  # a version is deleted once this many newer versions have been published (and it is not current
# nor the one current before the current one)
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
    with locked_folder(Path(warehouse) / STAGING, f"{os.getpid()}-{uuid.uuid4().hex[:8]}") as folder:
        yield folder


def commit(warehouse: Path, changes: dict[str, Path | None], finish: Callable[[Path, str], dict | None], *,
           regenerated: tuple[str, ...] = (), description: dict | None = None,
           wait_seconds: float = 0.0) -> dict:
    """Make a new current version: the current one, with every `changes` path (relative to a version's root)
    replaced by the staged file or folder it maps to (moved, not copied) or removed when it maps to None. Then
    `finish(root, version_id)` writes the files derived from the whole version (catalog, dictionary: the names in
    `regenerated`, never carried over) and may return more for the index. Returns the new version's index."""
    warehouse = Path(warehouse)
    warehouse.mkdir(parents=True, exist_ok=True)
    asked = time.monotonic()
    with warehouse_lock(warehouse, wait_seconds=wait_seconds):
        locked = time.monotonic()
        recover(warehouse)
        base = current_dir(warehouse)
        if base is None and legacy_entries(warehouse):
            base = warehouse  # first publication since versions: the old layout's folders become the base
        kept_ids = available(warehouse)
        if base is None and (len(kept_ids) > 1 or (kept_ids and read_index(
                warehouse / VERSIONS / kept_ids[0]).get("precedente"))):
            # a version built from nothing would drop every other département's files, and the retention would
            # then delete the versions that hold them (a lone first version without a link is what a first
            # publication killed before its switch leaves: built over, as before)
            raise UserError(f"{warehouse}: no version is current (the link {warehouse / CURRENT} is missing) but "
                            f"{len(kept_ids)} are kept: make one current again with `ess rollback "
                            "<version>` (`ess versions` lists them), then publish; nothing was published")
        version_id = _new_id()
        root = warehouse / VERSIONS / version_id
        root.mkdir(parents=True)
        try:
            skip = {PurePosixPath(p) for p in (*changes, *regenerated, INDEX, HISTORY)}
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
                     **(description or {}), **extra,
                     # the switch and the deletion of old versions (milliseconds) come after the index is written
                     "durees_secondes": {"attente_du_verrou": round(locked - asked, 3),
                                         "construction": round(time.monotonic() - locked, 3)}}
            write_json_atomic(root / INDEX, index)
            earlier = history(base) if previous is not None else []
            write_json_atomic(root / HISTORY, {"evenements": [*earlier, event_of(index)]})
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


def write_atomic(path: Path, content: str | bytes) -> None:
    """Write `path` through a temporary file renamed over it: readers see the old file or the new one, and a file
    hard-linked from the previous version is replaced, never changed in place (which would change that version)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    if isinstance(content, bytes):
        tmp.write_bytes(content)
    else:
        tmp.write_text(content, encoding="utf-8")
    tmp.replace(path)


def write_json_atomic(path: Path, data: dict) -> None:
    write_atomic(path, json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


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
    """Every entry point the current version has is the link `<name> -> courant/<name>`. A real folder of the old
    layout is moved aside, replaced by its link, then deleted (its files live on, hard-linked, in the current
    version). The link of an entry point the current version lacks is removed rather than left dangling: a version
    published before the method travelled with the warehouse, made current again by `ess rollback`, has no
    METHOD.md."""
    current = current_dir(warehouse)
    for name in ENTRY_POINTS:
        path = warehouse / name
        target = f"{CURRENT}/{name}"
        if current is not None and not os.path.lexists(current / name):
            if path.is_symlink():
                path.unlink()
            continue
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
    remove_dead_folders(warehouse / STAGING)
    settle_pending_histories(warehouse)
    if current_dir(warehouse) is not None:
        ensure_entry_points(warehouse)
    prune(warehouse)


def settle_pending_histories(warehouse: Path) -> None:
    """A rollback killed between its switch and the renaming of its history: the version `courant` names takes its
    pending history; in any other version, a pending history is that of a rollback killed before its switch (it
    never happened) and is deleted."""
    folder = warehouse / VERSIONS
    current = current_dir(warehouse)
    for version in folder.iterdir() if folder.is_dir() else []:
        (version / f".{PENDING_HISTORY}.tmp").unlink(missing_ok=True)
        if (version / PENDING_HISTORY).is_file():
            if current is not None and version.name == current.name:
                os.replace(version / PENDING_HISTORY, version / HISTORY)
                _fsync_dir(version)
            else:
                (version / PENDING_HISTORY).unlink()


def prune(warehouse: Path) -> None:
    """Delete every version `kept()` does not keep: older ones, and unfinished ones (no index: never current) or
    finished ones that never became current (a writer killed before its switch)."""
    folder = warehouse / VERSIONS
    if not folder.is_dir():
        return
    keep = kept(warehouse)
    for path in folder.iterdir():
        if path.name not in keep:
            shutil.rmtree(path, ignore_errors=True)


def kept(warehouse: Path) -> set[str]:
    """The versions the retention keeps: the current one, the one current just before it (what a rollback goes
    back to), and those with fewer than KEEP_NEWER versions published after them (read from the current version's
    history). With no current version (someone removed the link), every finished version is kept."""
    folder = Path(warehouse) / VERSIONS
    finished = {p.name for p in folder.iterdir() if (p / INDEX).is_file()} if folder.is_dir() else set()
    current = current_dir(warehouse)
    if current is None:
        return finished
    events = history(current)
    published = list(dict.fromkeys(e.get("version") for e in events if e.get("type") != ROLLBACK))
    before = [e.get("version") for e in events if e.get("version") != current.name]
    return ({*published[-KEEP_NEWER:], *before[-1:]} & finished) | {current.name}


# --- history and rollback ----------------------------------------------------------------------------------------


def event_of(index: dict) -> dict:
    """A version's index as an event of a history: when it became current (its index is written just before the
    switch) and what it changed; the code that built it stays in the index."""
    change = {k: v for k, v in (index.get("changement") or {}).items() if k != "version_pipeline"}
    return {"version": index.get("version"), "type": change.pop("type", None), "courante_depuis": index.get("creee_le"),
            "precedente": index.get("precedente"), **change}


def history(version: Path | None) -> list[dict]:
    """The history a version holds: every time a version became current in this warehouse, oldest first, ending
    with this version's own event. A version made before histories existed has none: its history is rebuilt from
    the chain of `precedente` through the versions still there (what was deleted before is not known)."""
    if version is None:
        return []
    version = Path(version)
    for name in ((PENDING_HISTORY, HISTORY) if is_current(version) else (HISTORY,)):
        try:
            return json.loads((version / name).read_text(encoding="utf-8"))["evenements"]
        except FileNotFoundError:  # (a pending history: renamed since, or deleted by recover())
            pass
    chain: list[dict] = []
    seen: set[str] = set()
    step: Path | None = version
    while step is not None and step.name not in seen and (step / INDEX).is_file():
        if chain and (step / HISTORY).is_file():
            return history(step) + chain[::-1]
        seen.add(step.name)
        index = read_index(step)
        if not index:  # deleted since it was found (a reader without the lock, during a retention)
            break
        chain.append(event_of(index))
        previous = index.get("precedente")
        step = version.parent / previous if previous and (version.parent / previous).is_dir() else None
    return chain[::-1]


def is_current(version: Path) -> bool:
    """Whether `courant` names this version folder (<warehouse>/versions/<id>)."""
    real = Path(version).resolve()
    link = real.parent.parent / CURRENT
    # (its target, not its text: a link made again by hand may read ./versions/<id>, versions/<id>/ or a full path)
    return link.is_symlink() and link.resolve() == real


def last_current_history(warehouse: Path) -> list[dict]:
    """Without a current version (its link removed): the history of the version current last, the longest one (each
    switch writes the history of the version current before it plus one event; the newest version is not it after a
    rollback). The target's own history would not name the versions published after it, and the retention would
    then delete them."""
    histories = [history(warehouse / VERSIONS / v) for v in reversed(available(warehouse))]
    return max(histories, key=len, default=[])


def withdrawn(events: list[dict], version: str) -> list[str]:
    """The versions made current since `version` last was (newest first): what making it current again undoes."""
    last = max((i for i, e in enumerate(events) if e.get("version") == version), default=None)
    after = events[last + 1:] if last is not None else events[-1:]
    return list(dict.fromkeys(e.get("version") for e in reversed(after) if e.get("version") != version))


def available(warehouse: Path) -> list[str]:
    """The ids of the finished versions in the warehouse, oldest first (ids begin with their creation time)."""
    folder = Path(warehouse) / VERSIONS
    return sorted(p.name for p in folder.iterdir() if (p / INDEX).is_file()) if folder.is_dir() else []


SHORTEST_ABBREVIATION = 6  # the random end of an id (« 39dadc »), as people quote it


def find_version(warehouse: Path, wanted: str) -> str:
    """The id of the kept version `wanted` names: its whole id, or an unambiguous beginning or end of it (at least
    SHORTEST_ABBREVIATION characters). UserError (in French: it answers `ess rollback`) naming the kept ones."""
    ids = available(warehouse)
    wanted = (wanted or "").strip()
    if wanted in ids:
        return wanted
    matches = [v for v in ids if len(wanted) >= SHORTEST_ABBREVIATION and (v.startswith(wanted) or v.endswith(wanted))]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise UserError(f"« {wanted} » désigne plusieurs versions ({', '.join(matches)}) : donnez l'identifiant "
                        "complet")
    if not ids:
        raise UserError(f"l'entrepôt {warehouse} n'a aucune version : rien à rétablir (`ess run` y publie)")
    current = current_dir(warehouse)
    listed = ", ".join(f"{v} (courante)" if current is not None and v == current.name else v for v in ids)
    raise UserError(f"la version « {wanted} » n'est pas dans {Path(warehouse) / VERSIONS} : elle n'a jamais "
                    f"existé ou a été supprimée (une version est gardée jusqu'à ce que {KEEP_NEWER} versions plus "
                    f"récentes soient publiées). Versions conservées : {listed} ; `ess versions` les décrit")


def rollback(warehouse: Path, wanted: str, *, wait_seconds: float = 0.0) -> dict | None:
    """Make the kept version `wanted` (find_version) current again, under the warehouse lock: its history gains an
    event of type ROLLBACK naming the versions it withdraws, written and flushed before `courant` names it (the
    switch of a publication) as its pending history, which becomes its history once the switch is done. A crash at
    any instant leaves the previous current version or this one, whole, and the history of each true; the versions
    withdrawn stay until the retention deletes them. Returns the event, or None when `wanted` is current already."""
    warehouse = Path(warehouse)
    with warehouse_lock(warehouse, wait_seconds=wait_seconds):
        recover(warehouse)
        target = warehouse / VERSIONS / find_version(warehouse, wanted)
        current = current_dir(warehouse)
        if current is not None and current.name == target.name:
            return None
        earlier = history(current) if current is not None else last_current_history(warehouse)
        event = {"version": target.name, "type": ROLLBACK,
                 "courante_depuis": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                 "precedente": current.name if current is not None else None,
                 "versions_retirees": withdrawn(earlier, target.name)}
        # pending until the switch: a crash before it leaves the target's own history as it was (history() reads
        # a pending history only in the version `courant` names)
        write_json_atomic(target / PENDING_HISTORY, {"evenements": [*earlier, event]})
        _fsync_file(target / PENDING_HISTORY)
        _fsync_dir(target)
        switch(warehouse, target.name)
        os.replace(target / PENDING_HISTORY, target / HISTORY)
        _fsync_dir(target)
        ensure_entry_points(warehouse)
        prune(warehouse)
    return event


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
