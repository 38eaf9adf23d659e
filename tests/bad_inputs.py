"""Bad inputs a user could give, made from a tiny generated sample (official formats), one function each.

Every function copies the sample folder (hard links: cheap) and changes one file in the copy; the sample itself is
never modified. The SIRENE folder holds both deliverables; the loader prefers the Parquet one, so the changes are
made there (the zipped CSV is removed when the Parquet file is replaced, so that nothing else can be read).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

SIRENE = Path("sirene") / "2026-10"
URSSAF = Path("urssaf") / "2025"
ETABLISSEMENTS = SIRENE / "StockEtablissement_utf8.parquet"
URSSAF_ESS = URSSAF / "nombre-etab-effectifs-salaries-et-masse-salariale-ess-departements.csv"
URSSAF_COMMUNE_APE = URSSAF / "etablissements-et-effectifs-salaries-au-niveau-commune-x-ape-last.csv"
POPULATIONS = Path("territoires") / "2026" / "donnees_communes.csv"


def sample(root: Path, *, departement: str = "38", scale: float = 0.02) -> Path:
    from sources.sample import write_sample

    if not (root / "synthetic.json").exists():
        write_sample(root, departement=departement, scale=scale)
    return root


def copy_of(sample_root: Path, target: Path, *, markers: bool = True) -> Path:
    """A copy of the sample (hard links); without its marker files when `markers` is False."""
    shutil.copytree(sample_root, target, copy_function=os.link)
    if not markers:
        for name in ("synthetic.json", "SYNTHETIC.md"):
            (target / name).unlink()
    return target


def _rewrite_parquet(path: Path, table: pa.Table) -> None:
    path.unlink()  # a hard link of the sample: replace it, never write through it
    pq.write_table(table, path)
    path.with_suffix(".zip").unlink(missing_ok=True)


def empty_establishments(root: Path) -> Path:
    """The establishments stock with its header (schema) and no row."""
    path = root / ETABLISSEMENTS
    table = pq.read_table(path)
    _rewrite_parquet(path, table.slice(0, 0).replace_schema_metadata(table.schema.metadata))
    return path


def integer_creation_dates(root: Path) -> Path:
    """The establishments stock with dateCreationEtablissement typed as an integer (20120315) instead of a date."""
    path = root / ETABLISSEMENTS
    table = pq.read_table(path)
    column = "dateCreationEtablissement"
    dates = table[column]
    as_int = pc.cast(pc.strftime(dates, format="%Y%m%d"), pa.int64())
    table = table.set_column(table.schema.get_field_index(column), column, as_int)
    _rewrite_parquet(path, table)
    return path


def french_creation_dates(root: Path) -> Path:
    """The establishments stock with dateCreationEtablissement written as French text dates (15/03/2012), as a
    spreadsheet would save them: the column has the official type (text) but not the official format."""
    path = root / ETABLISSEMENTS
    table = pq.read_table(path)
    column = "dateCreationEtablissement"
    as_text = pc.strftime(table[column], format="%d/%m/%Y")
    table = table.set_column(table.schema.get_field_index(column), column, as_text)
    _rewrite_parquet(path, table)
    return path


def unreadable_urssaf_numbers(root: Path) -> Path:
    """The URSSAF ESS file with every figure replaced by a text mark (« n.d. »): nothing left to calibrate on."""
    return _urssaf_figures(root, lambda cell: "n.d.")


def decimal_commas(root: Path) -> Path:
    """The URSSAF ESS file with decimal commas (126,0 instead of 126.0), as a spreadsheet in French would save it."""
    return _urssaf_figures(root, lambda cell: cell.replace(".", ","))


def _urssaf_figures(root: Path, change) -> Path:
    path = root / URSSAF_ESS
    lines = path.read_text(encoding="utf-8").splitlines()
    out = [lines[0]]
    for line in lines[1:]:
        cells = line.split(";")
        out.append(";".join(cells[:9] + [change(c) for c in cells[9:]]))
    path.unlink()
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path


def fewer_establishments(root: Path, keep: float) -> Path:
    """The establishments stock with only its first `keep` share of rows (a truncated download)."""
    path = root / ETABLISSEMENTS
    table = pq.read_table(path)
    _rewrite_parquet(path, table.slice(0, int(table.num_rows * keep)))
    return path


def _first_lines(path: Path, keep: float, encoding: str = "utf-8") -> Path:
    """The file cut after its first `keep` share of lines (header kept): a download stopped between two lines, which
    leaves no malformed row to reject."""
    lines = path.read_text(encoding=encoding).splitlines()
    path.unlink()
    path.write_text("\n".join(lines[:1 + int((len(lines) - 1) * keep)]) + "\n", encoding=encoding)
    return path


def half_the_populations(root: Path) -> Path:
    """INSEE's legal populations with half of their lines: half the communes get no population."""
    return _first_lines(root / POPULATIONS, 0.5)


def half_the_commune_ape_cells(root: Path) -> Path:
    """URSSAF's commune × APE file with half of its lines: its total falls far below the ESS file's."""
    return _first_lines(root / URSSAF_COMMUNE_APE, 0.5)


def stock_under_a_later_month(root: Path) -> Path:
    """The October stock filed under December: every figure would say « au 31/12 »."""
    later = root / "sirene" / "2026-12"
    (root / SIRENE).rename(later)
    return later
