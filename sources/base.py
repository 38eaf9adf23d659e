"""What every source says about itself, and where its raw snapshots live."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ess.errors import UserError
from ess.settings import MILLESIME_FORMAT

# Snapshot folders are named by millésime: SIRENE's month (the settings' one rule) or a year.
MILLESIME_FORMATS = {"YYYY-MM": MILLESIME_FORMAT, "YYYY": re.compile(r"^\d{4}$")}
DATA_GOUV_STABLE = "https://www.data.gouv.fr/datasets/r/{resource_id}"
# INSEE codes of the départements: 01…95 (no 20 since 1976: Corsica is 2A/2B) and the overseas 971…976.
DEPARTEMENT = re.compile(r"^(0[1-9]|1[0-9]|2[1-9AB]|[3-8][0-9]|9[0-5]|97[1-6])$")


def normalise_departement(departement: str) -> str:
    """'2a' -> '2A', '1' -> '01'; anything that is not a département code is a UserError."""
    code = str(departement).strip().upper()
    if len(code) == 1 and code.isdigit():
        code = "0" + code
    if not DEPARTEMENT.match(code):
        raise UserError(
            f"unknown département {departement!r}: not a département code — use 01…95, 2A or 2B for Corsica "
            "(not 20), or 971…976 overseas"
        )
    return code


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
    # National files (one file for all of France) are staged once for every département of a run, one partition
    # each; the others per département.
    national: bool = False
    # The settings the source's staging depends on (flows/pipeline.py gives it only these: its cache key).
    stage_params: tuple[str, ...] = ("departement", "synthetic", "reference_dir")
    # The portal filters the files by département: a run of several départements fetches them for each.
    fetched_by_departement: bool = False

    def file(self, key: str) -> SourceFile:
        for f in self.files:
            if f.key == key:
                return f
        raise KeyError(f"source {self.name!r} has no file {key!r}; it has {[f.key for f in self.files]}")

    def snapshot_dir(self, root: Path, millesime: str) -> Path:
        """data/raw/<source>/<millésime>/ (or the same layout under the sample folder)."""
        return Path(root) / self.name / millesime

    def millesimes(self, root: Path) -> list[str]:
        """Snapshot folders of the source under an input root, oldest first."""
        folder = Path(root) / self.name
        if not folder.is_dir():
            return []
        pattern = MILLESIME_FORMATS[self.millesime_format]
        return sorted(p.name for p in folder.iterdir() if p.is_dir() and pattern.match(p.name))

    def snapshot(self, root: Path, millesime: str | None) -> Path:
        """The snapshot to use: the one asked for, or the latest present. Clear error when there is none."""
        found = self.millesimes(root)
        folder = Path(root) / self.name
        if millesime is None:
            if not found:
                raise UserError(
                    f"no {self.name} snapshot under {folder} (expected folders named by millésime). "
                    f"Run `ess fetch --source {self.name}` or point --input at a folder of official files."
                )
            return folder / found[-1]
        if millesime not in found:
            raise UserError(
                f"no {self.name} snapshot {millesime!r} under {folder}; available: {found or 'none'}. "
                f"Run `ess fetch --source {self.name}` or choose one of those."
            )
        return folder / millesime

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


@dataclass(frozen=True)
class FetchRequest:
    """What `ess fetch` (or a run with --download) asks every source for."""

    departement: str  # validated (ess.settings.check_departement)
    millesime: str | None = None  # SIRENE's; the stable links serve the latest stock only
    formats: tuple[str, ...] | None = None  # SIRENE deliverables (parquet, csv)
