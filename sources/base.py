"""What every source says about itself, and where its raw snapshots live."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ess import paths
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
    # What `ess fetch` can download, so that a message sends the user there only when it helps: "latest" (the
    # latest millésime only: SIRENE's stable links), "latest_with_earlier" (the latest, whose files hold the
    # earlier years too: URSSAF's exports), "nothing" (files laid out by hand: the COG, whose addresses move).
    fetch_serves: str = "latest"

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
                    f"{self.how_to_get(root, None)}"
                )
            return folder / found[-1]
        if millesime not in found:
            raise UserError(
                f"no {self.name} snapshot {millesime!r} under {folder}; available: {found or 'none'}. "
                f"{self.how_to_get(root, millesime)}"
            )
        return folder / millesime

    def how_to_get(self, root: Path | None, millesime: str | None) -> str:
        """How to obtain a missing snapshot of `root` (None: no input folder, e.g. a run on the sample) — saying of
        `ess fetch` only what is true for this source: what it downloads, where it writes, which --input reads it."""
        root = Path(root) if root is not None else None
        sample = root is None or any((root / name).is_file() for name in ("SYNTHETIC.md", "synthetic.json"))
        raw = paths.raw_dir()
        official = raw if sample else root  # the generated sample is not where official files go
        target = official / self.name / (millesime or f"<{self.millesime_format}>")
        then_run = f", then run with --input {official}" if sample else ""
        if self.fetch_serves == "nothing":
            names = ", ".join(f.filename.replace("{YYYY}", millesime or "YYYY") for f in self.files)
            return (f"`ess fetch` does not download the {self.name} files: put the official ones ({names}) in "
                    f"{target}/ and run with --input {official}")
        command = f"`ess fetch --source {self.name}{'' if official == raw else f' --out {official}'}`"
        if self.fetch_serves == "latest" and millesime is not None:
            with_input = f" with --input {official}" if sample else ""
            return (f"{command} downloads the latest millésime only (older ones are not served any more): fetch it "
                    f"and run{with_input} without --millesime, or put the official files of {millesime} you have "
                    f"in {target}/ and run{with_input or ' again'}")
        latest = (" (it downloads the latest year, whose files hold the earlier years too)"
                  if self.fetch_serves == "latest_with_earlier" else " (it downloads the latest millésime)")
        return f"Run {command}{latest}{then_run}, or point --input at a folder of official files."

    def refetch_advice(self) -> str:
        """What to do about one of its files that is damaged or cut short."""
        if self.fetch_serves == "nothing":
            return (f"put the complete official file in place (`ess fetch` does not download the {self.name} "
                    "files)")
        latest = " serves the latest millésime only" if self.fetch_serves == "latest" else " serves the latest year"
        return f"download it again (`ess fetch --source {self.name}`{latest}) or put the complete file in place"

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
