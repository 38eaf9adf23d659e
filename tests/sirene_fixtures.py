"""Tiny hand-made SIRENE stock files, in any real layout and either deliverable (zipped CSV or Parquet).

Rows are dicts keyed by official column names; a column a row does not mention is empty. Files get their official
names (StockEtablissement_utf8.zip holding StockEtablissement_utf8.csv, …) so the loader sees a real snapshot.
"""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from sources.sirene_layouts import CODE_WIDTHS, LAYOUTS, csv_member_name, official_filename

# How the Parquet deliverable has typed columns in some months (the loader must turn them back into text).
TYPED_DATES = {"dateCreationEtablissement", "dateCreationUniteLegale", "dateDebut", "dateFin"}
TYPED_TIMESTAMPS = {"dateDernierTraitementEtablissement", "dateDernierTraitementUniteLegale"}
TYPED_BOOLEANS = {"etablissementSiege"}
TYPED_INTEGERS = {"siren", "nic", "siret", "categorieJuridiqueUniteLegale", "nicSiegeUniteLegale",
                  "anneeEffectifsEtablissement", "anneeEffectifsUniteLegale", "codePostalEtablissement"}


def etablissement(siret: str, commune: str, **fields) -> dict:
    """An establishment row; siren and nic come from the siret unless given."""
    row = {
        "siren": siret[:9], "nic": siret[9:], "siret": siret, "statutDiffusionEtablissement": "O",
        "dateCreationEtablissement": "2001-02-03", "trancheEffectifsEtablissement": "01",
        "anneeEffectifsEtablissement": "2023", "dateDernierTraitementEtablissement": "2024-05-06T07:08:09",
        "etablissementSiege": "true", "codePostalEtablissement": "38000", "codeCommuneEtablissement": commune,
        "dateDebut": "2001-02-03", "etatAdministratifEtablissement": "A",
        "activitePrincipaleEtablissement": "94.99Z", "nomenclatureActivitePrincipaleEtablissement": "NAFRev2",
        "caractereEmployeurEtablissement": "O", "activitePrincipaleNAF25Etablissement": "94.99Y",
        # Columns the loader does not use, filled so that layouts differ in content too.
        "libelleCommuneEtablissement": "GRENOBLE", "nombrePeriodesEtablissement": "1",
        "coordonneeLambertAbscisseEtablissement": "913000.5",
    }
    row.update(fields)
    return row


def unite_legale(siren: str, **fields) -> dict:
    row = {
        "siren": siren, "statutDiffusionUniteLegale": "O", "dateCreationUniteLegale": "1999-12-31",
        "trancheEffectifsUniteLegale": "11", "anneeEffectifsUniteLegale": "2023",
        "dateDernierTraitementUniteLegale": "2024-01-02T03:04:05", "categorieEntreprise": "PME",
        "dateDebut": "2015-01-01", "etatAdministratifUniteLegale": "A", "denominationUniteLegale": "ASSOCIATION",
        "categorieJuridiqueUniteLegale": "9220", "activitePrincipaleUniteLegale": "94.99Z",
        "nomenclatureActivitePrincipaleUniteLegale": "NAFRev2", "nicSiegeUniteLegale": "00011",
        "economieSocialeSolidaireUniteLegale": "O", "societeMissionUniteLegale": "N",
        "caractereEmployeurUniteLegale": "O", "activitePrincipaleNAF25UniteLegale": "94.99Y",
        "nombrePeriodesUniteLegale": "2",
    }
    row.update(fields)
    return row


def etablissement_periode(siret: str, debut: str, fin: str = "", **fields) -> dict:
    row = {
        "siren": siret[:9], "nic": siret[9:], "siret": siret, "dateDebut": debut, "dateFin": fin,
        "etatAdministratifEtablissement": "A", "activitePrincipaleEtablissement": "94.99Z",
        "nomenclatureActivitePrincipaleEtablissement": "NAFRev2", "caractereEmployeurEtablissement": "O",
        "changementEtatAdministratifEtablissement": "false",
    }
    row.update(fields)
    return row


def unite_legale_periode(siren: str, debut: str, fin: str = "", **fields) -> dict:
    row = {
        "siren": siren, "dateDebut": debut, "dateFin": fin, "etatAdministratifUniteLegale": "A",
        "categorieJuridiqueUniteLegale": "9220", "activitePrincipaleUniteLegale": "94.99Z",
        "nomenclatureActivitePrincipaleUniteLegale": "NAFRev2", "nicSiegeUniteLegale": "00011",
        "economieSocialeSolidaireUniteLegale": "O", "caractereEmployeurUniteLegale": "O",
    }
    row.update(fields)
    return row


def csv_bytes(rows: list[dict], layout: tuple[str, ...], extra_lines: list[str] = ()) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(layout)
    for row in rows:
        writer.writerow([row.get(c, "") for c in layout])
    for line in extra_lines:  # raw lines, e.g. a malformed record
        out.write(line + "\n")
    return out.getvalue().encode("utf-8")


def write_zip(folder: Path, key: str, rows: list[dict], layout: tuple[str, ...] | None = None, *,
              member: str | None = None, extra_lines: list[str] = ()) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / official_filename(key, "csv")
    layout = layout or LAYOUTS[key][0]
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr(member or csv_member_name(key), csv_bytes(rows, layout, extra_lines))
    return path


def write_parquet(folder: Path, key: str, rows: list[dict], layout: tuple[str, ...] | None = None, *,
                  typed: bool = False) -> Path:
    """All columns as text, or with `typed` the way some monthly files type them (integers, dates, booleans).

    A typed file cannot hold a malformed value: a column is typed only when every value survives the typing
    (e.g. a 9-digit siren, not an 8-digit one), as in real files; the others stay text.
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / official_filename(key, "parquet")
    layout = layout or LAYOUTS[key][0]
    arrays = []
    for col in layout:
        values = [row.get(col, "") or None for row in rows]
        arr = pa.array(values, pa.string())
        if typed:
            arr = _typed(col, values, arr)
        arrays.append(arr)
    pq.write_table(pa.table(arrays, names=list(layout)), path)
    return path


def _typed(col: str, values: list, arr: pa.Array) -> pa.Array:
    present = [v for v in values if v is not None]
    try:
        if col in TYPED_INTEGERS:
            width = CODE_WIDTHS.get(col)
            if width and any(len(v) != width for v in present):
                return arr  # padding would not give the text back
            return arr.cast(pa.int64())
        if col in TYPED_DATES:
            return arr.cast(pa.date32())
        if col in TYPED_TIMESTAMPS:
            return pa.array([None if v is None else v.replace("T", " ") for v in values]).cast(pa.timestamp("s"))
        if col in TYPED_BOOLEANS and set(present) <= {"true", "false"}:
            return pa.array([None if v is None else v == "true" for v in values], pa.bool_())
    except pa.ArrowInvalid:
        pass
    return arr


def write_snapshot(folder: Path, data: dict[str, list[dict]], *, fmt: str = "csv",
                   layouts: dict[str, tuple[str, ...]] | None = None, typed: bool = False) -> Path:
    """Write the four stocks of `data` ({key: rows}) in one deliverable format; returns the folder."""
    if fmt not in ("csv", "parquet"):  # a test naming another format would silently test Parquet
        raise ValueError(f"write_snapshot: fmt is 'csv' (the zipped CSV deliverable) or 'parquet', not {fmt!r}")
    layouts = layouts or {}
    for key, rows in data.items():
        if fmt == "csv":
            write_zip(folder, key, rows, layouts.get(key))
        else:
            write_parquet(folder, key, rows, layouts.get(key), typed=typed)
    return folder
