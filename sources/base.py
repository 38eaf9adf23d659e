"""What every source says about itself, and where its raw snapshots live."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DATA_GOUV_STABLE = "https://www.data.gouv.fr/datasets/r/{resource_id}"


@dataclass(frozen=True)
class SourceFile:
    """One deliverable of a source, under its official file name."""

    key: str  # our name for it, e.g. "etablissements"
    filename: str  # official name, e.g. "StockEtablissement_utf8.zip"
    url: str  # stable address (data.gouv redirect, portal export…); never a CDN host that changes
    resource_id: str | None = None
    description: str = ""


@dataclass(frozen=True)
class Source:
    name: str  # folder name under data/raw, e.g. "sirene"
    title: str
    producer: str
    licence: str
    homepage: str
    cadence: str  # "monthly", "yearly"…
    millesime_format: str  # "YYYY-MM" for SIRENE, "YYYY" for yearly sources
    files: tuple[SourceFile, ...] = field(default_factory=tuple)
    dataset_id: str | None = None

    def file(self, key: str) -> SourceFile:
        for f in self.files:
            if f.key == key:
                return f
        raise KeyError(f"source {self.name!r} has no file {key!r}; it has {[f.key for f in self.files]}")

    def snapshot_dir(self, root: Path, millesime: str) -> Path:
        """data/raw/<source>/<millésime>/ (or the same layout under the sample folder)."""
        return Path(root) / self.name / millesime

    def describe(self) -> dict:
        return {
            "source": self.name,
            "title": self.title,
            "producer": self.producer,
            "licence": self.licence,
            "homepage": self.homepage,
            "cadence": self.cadence,
            "dataset_id": self.dataset_id,
        }


def data_gouv_url(resource_id: str) -> str:
    return DATA_GOUV_STABLE.format(resource_id=resource_id)
