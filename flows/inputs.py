"""The run's inputs: find (or, for the sample, generate) each source's snapshot, fix the run's millésimes and decide
from the files whether the run is synthetic. Plain functions (no Prefect): the flow's resolve-inputs task calls them."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ess import paths
from ess.settings import Settings
from sources import registry

# The marker files of the generated sample (sources.sample.MARKER_JSON / MARKER_FILE, at the sample's root) and the
# key-value metadata it writes into every Parquet file: any of them makes a run synthetic.
SYNTHETIC_MARKERS = ("synthetic.json", "SYNTHETIC.md")
SYNTHETIC_PARQUET_KEY = b"ess:synthetic"
SYNTHETIC_ZIP_COMMENT = b"ess:synthetic=true"  # the start of the sample's zip comments (sources/sample/writers.py)


def synthetic_markers(root: Path, snapshots: dict[str, Path | None]) -> list[str]:
    """The evidence that the input is synthetic: marker files in the input root, a snapshot folder or one of their
    parents; Parquet files of the snapshots whose metadata says `ess:synthetic=true`, zips whose archive comment
    does; and any file of the snapshots identical to a file of a generated sample (same size and checksum as one
    that a sample's synthetic.json under data/sample/ records: a CSV carries no marker). Empty for real files."""
    import pyarrow.parquet as pq
    import zipfile

    found = set()
    folders = {Path(root).resolve(), *(Path(p).resolve() for p in snapshots.values() if p)}
    for folder in {f for folder in folders for f in (folder, *folder.parents)}:
        found.update(str(folder / name) for name in SYNTHETIC_MARKERS if (folder / name).is_file())
    for snapshot in snapshots.values():
        for path in sorted(Path(snapshot).rglob("*.parquet")) if snapshot else []:
            try:
                metadata = pq.read_schema(path).metadata or {}
            except Exception:  # noqa: BLE001 — not readable as Parquet: staging will say why
                continue
            if metadata.get(SYNTHETIC_PARQUET_KEY, b"").lower() == b"true":
                found.add(str(path))
        for path in sorted(Path(snapshot).rglob("*.zip")) if snapshot else []:
            try:
                with zipfile.ZipFile(path) as archive:
                    if archive.comment.startswith(SYNTHETIC_ZIP_COMMENT):
                        found.add(str(path))
            except (OSError, zipfile.BadZipFile):  # staging will say why
                continue
    if not found:  # (a sample run has its markers: its files need no hashing)
        found.update(_copied_from_a_sample([Path(p) for p in snapshots.values() if p]))
    return sorted(found)


def _copied_from_a_sample(snapshots: list[Path]) -> list[str]:
    """The snapshot files identical to a generated sample's: only the files whose size matches one are hashed."""
    import json

    from ess.caching import file_sha256

    known: dict[int, set[str]] = {}
    for marker in sorted((paths.data_dir() / "sample").glob(f"*/{SYNTHETIC_MARKERS[0]}")):
        try:
            files = json.loads(marker.read_text(encoding="utf-8")).get("fichiers") or {}
        except (OSError, ValueError):
            continue
        for entry in files.values():
            if isinstance(entry, dict) and entry.get("octets") and entry.get("sha256"):  # (an empty file is no sign)
                known.setdefault(int(entry["octets"]), set()).add(entry["sha256"])
    found = []
    for snapshot in snapshots:
        for path in sorted(p for p in snapshot.rglob("*") if p.is_file()):
            checksums = known.get(path.stat().st_size)
            if checksums and file_sha256(path) in checksums:
                found.append(str(path))
    return found


def sample_missing(settings: Settings) -> bool:
    """The run uses the generated sample and it is not there yet."""
    return settings.uses_sample and not (settings.input_root() / "SYNTHETIC.md").exists()


def ensure_sample(settings: Settings) -> None:
    """Generate the sample of the run's département when the run uses it and it is missing."""
    if sample_missing(settings):
        from sources.sample import write_sample

        write_sample(settings.input_root(), departement=settings.departement, scale=settings.sample_scale)


def resolve_inputs(settings: Settings) -> tuple[Settings, dict[str, Path | None]]:
    """Find (or, for the sample, generate) the snapshot of every registered source. Returns the settings with the
    run's millésimes fixed and `synthetic` decided from the files (whatever was asked), and {source: snapshot
    folder or None}."""
    root = settings.input_root()
    ensure_sample(settings)
    inputs: dict[str, Path | None] = {}
    fixed: dict = {}
    for name, module in registry.SOURCES.items():
        inputs[name], updates = module.find_snapshot(root, settings)
        fixed.update(updates)
    resolved = replace(settings, **fixed)
    return replace(resolved, synthetic=bool(synthetic_markers(root, inputs))), inputs
