"""The data behind each chart, written twice beside its PNG:

- `<name>.csv` for people (French Excel opens it in columns): UTF-8 with BOM, `;` separator, French headers, values
  rounded as printed (counts and employment to the unit, shares as percentages with one decimal, rates with one
  decimal), the secret shown as « s — motif », the synthetic mention as a first line starting with `#`;
- `<name>.parquet` for programs: every column as drawn (including how each value was drawn), unrounded, shares as
  0–1 ratios, with the `ess:synthetic` key in the file's metadata.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from reports import style

# what a chart's `valeur` is: how the CSV rounds and scales it, and the unit it names
UNITS = {
    "nombre": (0, 1, "nombre"),  # establishment counts
    "effectif": (0, 1, "salariés"),  # employment (a central estimate: rounded to the unit)
    "part": (1, 100, "%"),  # a ratio 0–1, written as a percentage
    "taux": (1, 1, "pour 1 000 habitants"),
    "indice": (1, 1, "indice (base 100)"),
}
# drawn-data column -> French header of the CSV (columns not listed are internal and left out of the CSV)
HEADERS = {
    "serie": "Série",
    "code": "Code",
    "code_commune": "Code commune",
    "nom_commune": "Commune",
    "code_epci": "Code EPCI",
    "nom_epci": "EPCI",
    "etiquette": "Libellé",
    "annee": "Année",
    "valeur": "Valeur",
    "bas": "Borne basse de l'intervalle à 90 %",
    "haut": "Borne haute de l'intervalle à 90 %",
    "ic90_bas": "Borne basse de l'intervalle à 90 %",
    "ic90_haut": "Borne haute de l'intervalle à 90 %",
    "statut": "Secret statistique",
    "date_reference": "Date de référence",
}
VALUE_COLUMNS = ("valeur", "bas", "haut", "ic90_bas", "ic90_haut")
SEPARATOR = ";"
ENCODING = "utf-8-sig"  # with BOM: Excel reads the accents right


def tidy(data: pd.DataFrame, unit: str, measure_label: str) -> pd.DataFrame:
    """The CSV's table: French headers, rounded values, secret as « s — motif », not-published as « n.d. »."""
    decimals, scale, unit_name = UNITS[unit]
    out = pd.DataFrame(index=data.index)
    masked = data["statut"].notna() if "statut" in data.columns else pd.Series(False, index=data.index)
    for column, header in HEADERS.items():
        if column not in data.columns or header in out.columns:
            continue
        values = data[column]
        if column in VALUE_COLUMNS:
            numbers = pd.to_numeric(values, errors="coerce").astype(float) * scale
            numbers = numbers.round(decimals).mask(masked)
            out[header] = numbers.astype("Int64") if decimals == 0 else numbers
        elif column == "statut":
            out[header] = [style.fmt_secret(s) if isinstance(s, str) else "" for s in values]
        elif column == "annee":
            out[header] = values.astype("Int64")
        else:
            out[header] = values
    if "Valeur" in out.columns:
        # a value neither masked nor drawn is not published for that cell (e.g. a year without employment)
        absent = out["Valeur"].isna() & ~masked
        out.insert(out.columns.get_loc("Valeur") + 1, "Publication",
                   np.where(masked, style.SUPPRESSED, np.where(absent, style.UNAVAILABLE, "publiée")))
    out.insert(0, "Mesure", measure_label)
    out.insert(1, "Unité", unit_name)
    return out.reset_index(drop=True)


def _csv_number(value, decimals: int) -> str:
    """French decimals (comma), no thousands separator (Excel reads 1234,5 as a number)."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return ""
    if decimals == 0:
        return str(int(value))
    return f"{float(value):.{decimals}f}".replace(".", ",")


def write_csv(data: pd.DataFrame, path: Path, *, unit: str, measure_label: str, synthetic: bool) -> Path:
    table = tidy(data, unit, measure_label)
    decimals = UNITS[unit][0]
    for header in table.columns:
        if header in {HEADERS[c] for c in VALUE_COLUMNS}:
            table[header] = [_csv_number(v, decimals) for v in table[header]]
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding=ENCODING, newline="") as fh:
        if synthetic:
            fh.write(f"# {style.SYNTHETIC_MENTION}\r\n")
        table.to_csv(fh, sep=SEPARATOR, index=False, lineterminator="\r\n")
    tmp.replace(path)
    return path


def write_parquet(data: pd.DataFrame, path: Path, *, unit: str, synthetic: bool) -> Path:
    """A chart's data for programs. Like every published table it says whether it was computed from the synthetic
    sample, in a column (read with no options) and in the file's metadata."""
    table = pa.Table.from_pandas(data.assign(unite=unit, donnees_synthetiques=bool(synthetic)), preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[b"ess:synthetic"] = b"true" if synthetic else b"false"
    if synthetic:
        meta[b"ess:avertissement"] = style.SYNTHETIC_MENTION.encode()
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table.replace_schema_metadata(meta), tmp)
    tmp.replace(path)
    return path


def read_csv(path: Path) -> tuple[pd.DataFrame, str | None]:
    """A chart CSV read back as written (for tests and users of pandas): its table, and its comment line."""
    with Path(path).open(encoding=ENCODING, newline="") as fh:
        first = fh.readline()
        comment = first.strip()[2:] if first.startswith("#") else None
        if comment is None:
            fh.seek(0)
        frame = pd.read_csv(fh, sep=SEPARATOR, dtype=str, keep_default_na=False)
    return frame, comment
