"""Content-addressed cache of step outputs: a step whose inputs, code and parameters are unchanged is not run again.

A step's key is the sha256 of
- the sha256 of every input file (raw snapshot files, or the Parquet tables it reads),
- the code version: the sha256 of the Python modules the step imports (followed through the project's own
  packages), of the SQL files and reference data it may read, and of the versions of DuckDB/pandas/pyarrow/numpy,
- the step's parameters (without run_id: two runs of the same thing share their results).
Its outputs live in <data>/cache/<step>/<key>/ next to `step.json` (the StepOutput, with table paths relative to
the folder). The folder is written under a temporary name and renamed into place, so a crashed step never leaves a
half-written entry, and two runs computing the same key concurrently both succeed (the second rename loses and its
copy is discarded). A killed computation (kill -9, out of memory, power cut) leaves its temporary folder — the
national staging of every département holds up to ≈ 22 GB there —: the next computation of the step removes it, the
lock file held beside each folder telling the dead from the live (ess.locking). Nothing here imports Prefect: the
flows call run_cached() inside their tasks.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
import json
import os
import shutil
import sys
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from ess import paths, progress
from ess.locking import locked_folder, remove_dead_folders
from transforms.steps import StepOutput

STEP_FILE = "step.json"
CHECKSUMS_FILE = ".checksums.json"
PROJECT_PACKAGES = ("ess", "sources", "transforms", "reports")
LIBRARIES = ("duckdb", "pandas", "pyarrow", "numpy")
# Files of a snapshot folder that are not data: the download manifest (its retrieval date changes on every fetch),
# partial downloads and hidden files.
IGNORED_INPUT_NAMES = {"manifest.json"}
_memo_lock = threading.Lock()


def cache_dir() -> Path:
    return paths.data_dir() / "cache"


# --- checksums of inputs -----------------------------------------------------------------------------------------


def _input_files(path: Path) -> list[Path]:
    """A file, or every data file under a folder (sorted, so the digest does not depend on listing order)."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"input {path} does not exist")
    return sorted(
        p for p in path.rglob("*")
        if p.is_file() and p.name not in IGNORED_INPUT_NAMES and not p.name.startswith(".")
        and not p.name.endswith(".part")
    )


def _memo_path() -> Path:
    return cache_dir() / CHECKSUMS_FILE


def _read_memo() -> dict:
    try:
        return json.loads(_memo_path().read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _write_memo(memo: dict) -> None:
    path = _memo_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(memo, sort_keys=True), encoding="utf-8")
    tmp.replace(path)  # last writer wins; a lost entry only costs a re-hash


def file_sha256(path: Path, memo: dict | None = None) -> str:
    """sha256 of a file. National SIRENE stocks weigh gigabytes: the digest is remembered by (device, inode, size,
    mtime), which any rewrite of the file changes (hard links of a cached table share the entry)."""
    st = Path(path).stat()
    stamp = f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"
    if memo is not None and stamp in memo:
        return memo[stamp]
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    digest = h.hexdigest()
    if memo is not None:
        memo[stamp] = digest
    return digest


def inputs_digest(inputs: dict[str, str | Path | None]) -> dict[str, dict[str, str] | None]:
    """{input name: {relative file name: sha256}} for every input (None = no file, e.g. the committed COG)."""
    with _memo_lock:
        memo = _read_memo()
        size = len(memo)
        out: dict[str, dict[str, str] | None] = {}
        for name, path in sorted(inputs.items()):
            if path is None:
                out[name] = None
                continue
            root = Path(path)
            base = root.parent if root.is_file() else root
            out[name] = {str(f.relative_to(base)): file_sha256(f, memo) for f in _input_files(root)}
        if len(memo) != size:
            _write_memo(memo)
    return out


# --- code version ------------------------------------------------------------------------------------------------


def _module_file(name: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    return Path(spec.origin)


def _imported_names(file: Path, module: str) -> set[str]:
    """Every project module named by an import statement of the file (also imports inside functions)."""
    tree = ast.parse(file.read_text(encoding="utf-8"), filename=str(file))
    package = module if file.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - (node.level - 1)] if node.level > 1 else parts
                base = ".".join(p for p in (*parts, base) if p)
            names.add(base)
            names.update(f"{base}.{a.name}" for a in node.names)  # `from pkg import module`
    return {n for n in names if n.split(".")[0] in PROJECT_PACKAGES}


def module_closure(modules: Iterable[str]) -> dict[str, Path]:
    """The project modules a step can run: the given ones, what they import, recursively, with their packages."""
    found: dict[str, Path] = {}
    todo = list(modules)
    while todo:
        name = todo.pop()
        if name in found:
            continue
        file = _module_file(name)
        if file is None:
            continue  # `from pkg import function` also yields pkg.function, which is not a module
        found[name] = file
        parent = name.rpartition(".")[0]
        if parent:
            todo.append(parent)
        todo.extend(_imported_names(file, name) - found.keys())
    return found


@functools.lru_cache(maxsize=64)
def code_version(modules: tuple[str, ...], globs: tuple[str, ...] = ()) -> str:
    """sha256 of the step's Python modules (with their project imports), of the files matched by `globs`
    (relative to the repository root: SQL, reference CSVs; a glob starting with '!' excludes what it matches) and of
    the library versions. Cached per process."""
    h = hashlib.sha256()
    for name, file in sorted(module_closure(modules).items()):
        h.update(f"module {name}\n".encode())
        h.update(file.read_bytes())
    excluded = {f for pattern in globs if pattern.startswith("!") for f in paths.ROOT.glob(pattern[1:])}
    for pattern in globs:
        if pattern.startswith("!"):
            continue
        for file in sorted(paths.ROOT.glob(pattern)):
            if file.is_file() and file not in excluded:
                h.update(f"file {file.relative_to(paths.ROOT)}\n".encode())
                h.update(file.read_bytes())
    for lib in LIBRARIES:
        module = sys.modules.get(lib) or importlib.import_module(lib)
        h.update(f"{lib} {getattr(module, '__version__', '?')}\n".encode())
    h.update(f"python {sys.version_info[:2]}\n".encode())
    return h.hexdigest()


# --- the cache ---------------------------------------------------------------------------------------------------


@dataclass
class CachedResult:
    output: StepOutput
    key: str
    hit: bool  # True when the step was not run
    folder: Path
    # When the step was run: what differs from the closest earlier entry of the step ("code", "inputs" or
    # "params"); None when no earlier entry differs in one part only (a first run, or several things changed).
    changed: str | None = None


KEY_PARTS = ("inputs", "code", "params")


def what_changed(step: str, document: dict, root: Path | None = None) -> str | None:
    """Why a step runs again: the one part of its key document (KEY_PARTS) in which the most recent earlier entry
    of the step that differs in one part only differs from `document`."""
    current = json.loads(json.dumps(document, sort_keys=True, default=str))  # as step.json holds it
    closest: tuple[float, str] | None = None
    for saved in Path(root or cache_dir()).joinpath(step).glob(f"[!.]*/{STEP_FILE}"):
        try:
            earlier = json.loads(saved.read_text(encoding="utf-8")).get("key") or {}
            when = saved.stat().st_mtime
        except (OSError, ValueError):
            continue
        if _scope(earlier.get("params")) != _scope(current.get("params")):
            continue  # another département's result: this one is a first computation, not a recomputation
        differing = [part for part in KEY_PARTS if earlier.get(part) != current.get(part)]
        if len(differing) == 1 and (closest is None or when > closest[0]):
            closest = (when, differing[0])
    return closest[1] if closest else None


def _scope(params: dict | None) -> tuple:
    """The département(s) a step's result is for (its parameters departement, departements)."""
    params = params or {}
    return params.get("departement"), tuple(params.get("departements") or ())


def step_key(step: str, inputs: dict, params: dict, code: str) -> tuple[str, dict]:
    """The cache key and the document it is the hash of (kept in step.json to explain a miss)."""
    document = {
        "step": step,
        "inputs": inputs_digest(inputs),
        "code": code,
        "params": {k: v for k, v in sorted(params.items()) if k != "run_id"},
    }
    blob = json.dumps(document, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:32], document


def lookup(step: str, key: str, root: Path | None = None) -> CachedResult | None:
    folder = Path(root or cache_dir()) / step / key
    try:
        saved = json.loads((folder / STEP_FILE).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    tables = {name: str(folder / rel) for name, rel in saved["tables"].items()}
    if not all(Path(p).is_file() for p in tables.values()):
        return None  # someone pruned files by hand: recompute
    return CachedResult(StepOutput(tables=tables, stats=saved["stats"]), key, True, folder)


def run_cached(
    step: str,
    compute: Callable[[Path], StepOutput],
    *,
    inputs: dict[str, str | Path | None],
    params: dict,
    code: str,
    root: Path | None = None,
) -> CachedResult:
    """Return the cached output of `step` for these inputs/params/code, or run `compute(out_dir)` and keep it.

    `compute` must write every table it returns under out_dir (the step contract: `<out_dir>/<table>.parquet`).
    """
    root = Path(root or cache_dir())
    key, document = step_key(step, inputs, params, code)
    found = lookup(step, key, root)
    if found is not None:
        return found
    changed = what_changed(step, document, root)
    final = root / step / key
    remove_dead_work(root / step)
    # (a cleaner may hold a free lock for an instant to test it: wait for it rather than fail)
    with locked_folder(root / step, f".{key}.{uuid.uuid4().hex[:8]}.tmp", wait_seconds=5, poll=0.05) as work:
        output = compute(work)
        relative = {}
        for name, path in output.tables.items():
            p = Path(path).resolve()
            if not p.is_relative_to(work.resolve()):
                raise RuntimeError(f"step {step} returned table {name} at {p}, outside its out_dir {work}")
            relative[name] = str(p.relative_to(work.resolve()))
        saved = {"tables": relative, "stats": output.stats, "key": document}
        (work / STEP_FILE).write_text(json.dumps(saved, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
        try:
            work.rename(final)
        except OSError:
            if lookup(step, key, root) is None:  # not a concurrent twin: a real problem
                raise
    result = lookup(step, key, root)
    if result is None:
        raise RuntimeError(f"cache entry {final} vanished right after it was written")
    return CachedResult(result.output, key, False, final, changed)


def remove_dead_work(step_dir: Path) -> None:
    """Remove the temporary folders that killed computations of the step left (their lock free or absent), and
    their lock files; each removal is said on the console and in the run's log."""
    for folder, size in remove_dead_folders(step_dir, ".*.tmp"):
        progress.current().say(f"  · dossier d'un calcul interrompu supprimé : {folder} "
                               f"({progress.entier(size / 2**20)} Mo)")


def link_tables(output: StepOutput, out_dir: Path) -> StepOutput:
    """Give a run folder its own names for cached tables: hard links (no copy, and they survive pruning of the
    cache), or copies across file systems."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tables = {}
    for name, path in output.tables.items():
        target = out_dir / Path(path).name
        tmp = out_dir / f".{target.name}.tmp"
        tmp.unlink(missing_ok=True)
        try:
            os.link(path, tmp)
        except OSError:
            shutil.copy2(path, tmp)
        tmp.replace(target)
        tables[name] = str(target)
    return StepOutput(tables=tables, stats=output.stats)
