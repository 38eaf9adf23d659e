"""The run's inputs: find (or, for the sample, generate) each source's snapshot, fix the run's millésimes and decide
from the files whether the run is synthetic. Plain functions (no Prefect): the flow's resolve-inputs task calls them."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ess.settings import Settings
from sources import registry

# The marker files of the generated sample (sources.sample.MARKER_JSON / MARKER_FILE, at the sample's root) and the
# key-value metadata it writes into every Parquet file: any of them makes a run synthetic.
SYNTHETIC_MARKERS = ("synthetic.json", "SYNTHETIC.md")
SYNTHETIC_PARQUET_KEY = b"ess:synthetic"


def synthetic_markers(root: Path, snapshots: dict[str, Path | None]) -> list[str]:
    """The evidence that the input is synthetic: marker files in the input root, a snapshot folder or one of their
    parents, and Parquet files of the snapshots whose metadata says `ess:synthetic=true` (CSV and zip files cannot
    say it). Empty for real files."""
    import pyarrow.parquet as pq

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
    return sorted(found)


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
