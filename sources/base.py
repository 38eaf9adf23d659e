"""What every source says about itself, and where its raw snapshots live."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ess.errors import UserError

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
