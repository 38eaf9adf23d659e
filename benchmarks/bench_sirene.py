"""Benchmark of the SIRENE loader on national-like synthetic stocks (NOT a test: run it by hand).

    python -m benchmarks.bench_sirene --rows 2000000 5000000 [--departement 38] [--runs 1] [--dir /tmp/bench]

For each size it writes the four stocks in both deliverables (zipped CSV and Parquet) with real layouts (54 / 35
columns), real-looking contents and the real proportions (≈ 1.5 % of establishments in the département, a few
abroad, 0.68 legal unit per establishment, 2.2 and 2.4 history periods per establishment / legal unit). Then it runs
`sources.sirene.load` in a fresh child process per deliverable and prints wall time and peak resident memory
(resource.getrusage in that child), and for the zips
the time and memory of decompression alone, the floor of any zip read.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from ess.db import connect
from sources.download import write_manifest
from sources.sirene import _sha256
from sources.sirene_layouts import LAYOUTS, csv_member_name, official_filename

ROOT = Path(__file__).resolve().parents[1]
# Département codes other than the target, to spread the other rows over.
_DEPS = [f"{d:02d}" for d in range(1, 96) if d != 20] + ["2A", "2B", "971", "972", "973", "974", "976"]

# Per column: SQL over i (row number) for the synthetic contents; unspecified columns stay empty as many are.
_ETAB = {
    "siren": "lpad(CAST(i * 2 // 3 AS VARCHAR), 9, '0')",
    "nic": "lpad(CAST(i % 100000 AS VARCHAR), 5, '0')",
    "siret": "lpad(CAST(i * 2 // 3 AS VARCHAR), 9, '0') || lpad(CAST(i % 100000 AS VARCHAR), 5, '0')",
    "statutDiffusionEtablissement": "CASE WHEN i % 50 = 0 THEN 'P' ELSE 'O' END",
    "dateCreationEtablissement": "CAST(DATE '1973-01-01' + CAST(i % 18000 AS INTEGER) AS VARCHAR)",
    "trancheEffectifsEtablissement": "(['NN', '00', '01', '02', '03', '11', '12', '', '', ''])[i % 10 + 1]",
    "anneeEffectifsEtablissement": "CASE WHEN i % 3 = 0 THEN '2023' ELSE '' END",
    "dateDernierTraitementEtablissement": "'2024-' || lpad(CAST(i % 12 + 1 AS VARCHAR), 2, '0') || '-15T10:11:12'",
    "etablissementSiege": "CASE WHEN i % 3 = 0 THEN 'true' ELSE 'false' END",
    "nombrePeriodesEtablissement": "CAST(i % 4 + 1 AS VARCHAR)",
    "numeroVoieEtablissement": "CAST(i % 200 + 1 AS VARCHAR)",
    "typeVoieEtablissement": "(['RUE', 'AV', 'BD', 'CHE', 'PL'])[i % 5 + 1]",
    "libelleVoieEtablissement": "'DE LA REPUBLIQUE ' || CAST(i % 97 AS VARCHAR)",
    "codePostalEtablissement": "CASE WHEN dep = '' THEN '' ELSE left(dep || '000', 5) END",
    "libelleCommuneEtablissement": "CASE WHEN dep = '' THEN '' ELSE 'COMMUNE ' || CAST(i % 500 AS VARCHAR) END",
    "codeCommuneEtablissement": "CASE WHEN dep = '' THEN '' ELSE left(dep || lpad(CAST(i % 533 + 1 AS VARCHAR), 3, '0'), 5) END",
    "codePaysEtrangerEtablissement": "CASE WHEN dep = '' THEN '99134' ELSE '' END",
    "libellePaysEtrangerEtablissement": "CASE WHEN dep = '' THEN 'ESPAGNE' ELSE '' END",
    "identifiantAdresseEtablissement": "CAST(hash(i) % 100000000000 AS VARCHAR)",
    "coordonneeLambertAbscisseEtablissement": "CAST(600000 + i % 400000 AS VARCHAR) || '.5'",
    "coordonneeLambertOrdonneeEtablissement": "CAST(6200000 + i % 900000 AS VARCHAR) || '.5'",
    "dateDebut": "CAST(DATE '1990-01-01' + CAST(i % 12000 AS INTEGER) AS VARCHAR)",
    "etatAdministratifEtablissement": "CASE WHEN i % 5 < 2 THEN 'F' ELSE 'A' END",
    "enseigne1Etablissement": "CASE WHEN i % 7 = 0 THEN 'ENSEIGNE ' || CAST(i AS VARCHAR) ELSE '' END",
    "denominationUsuelleEtablissement": "CASE WHEN i % 11 = 0 THEN 'NOM USUEL ' || CAST(i AS VARCHAR) ELSE '' END",
    "activitePrincipaleEtablissement": "(['94.99Z', '47.11B', '56.10A', '86.21Z', '88.99B', '68.20A'])[i % 6 + 1]",
    "nomenclatureActivitePrincipaleEtablissement": "'NAFRev2'",
    "caractereEmployeurEtablissement": "CASE WHEN i % 4 = 0 THEN 'O' ELSE 'N' END",
    "activitePrincipaleNAF25Etablissement": "(['94.99Y', '47.11B', '56.11Y', '86.21Y', '88.99B', '68.20Y'])[i % 6 + 1]",
}
_UL = {
    "siren": "lpad(CAST(i AS VARCHAR), 9, '0')",
    "statutDiffusionUniteLegale": "CASE WHEN i % 50 = 0 THEN 'P' ELSE 'O' END",
    "unitePurgeeUniteLegale": "''",
    "dateCreationUniteLegale": "CAST(DATE '1973-01-01' + CAST(i % 18000 AS INTEGER) AS VARCHAR)",
    "trancheEffectifsUniteLegale": "(['NN', '00', '01', '02', '03', '11', '12', '', '', ''])[i % 10 + 1]",
    "anneeEffectifsUniteLegale": "CASE WHEN i % 3 = 0 THEN '2023' ELSE '' END",
    "dateDernierTraitementUniteLegale": "'2024-' || lpad(CAST(i % 12 + 1 AS VARCHAR), 2, '0') || '-15T10:11:12'",
    "nombrePeriodesUniteLegale": "CAST(i % 4 + 1 AS VARCHAR)",
    "categorieEntreprise": "(['PME', 'ETI', 'GE', ''])[i % 4 + 1]",
    "anneeCategorieEntreprise": "'2022'",
    "dateDebut": "CAST(DATE '1990-01-01' + CAST(i % 12000 AS INTEGER) AS VARCHAR)",
    "etatAdministratifUniteLegale": "CASE WHEN i % 5 < 2 THEN 'C' ELSE 'A' END",
    "denominationUniteLegale": "'SOCIETE ' || CAST(i AS VARCHAR)",
    "categorieJuridiqueUniteLegale": "(['9220', '5710', '5499', '1000', '5400', '6540'])[i % 6 + 1]",
    "activitePrincipaleUniteLegale": "(['94.99Z', '47.11B', '56.10A', '86.21Z', '88.99B', '68.20A'])[i % 6 + 1]",
    "nomenclatureActivitePrincipaleUniteLegale": "'NAFRev2'",
    "nicSiegeUniteLegale": "'00011'",
    "economieSocialeSolidaireUniteLegale": "(['O', 'N', ''])[i % 3 + 1]",
    "societeMissionUniteLegale": "'N'",
    "caractereEmployeurUniteLegale": "CASE WHEN i % 4 = 0 THEN 'O' ELSE 'N' END",
    "activitePrincipaleNAF25UniteLegale": "(['94.99Y', '47.11B', '56.11Y', '86.21Y', '88.99B', '68.20Y'])[i % 6 + 1]",
}


def _etab_hist(n: int) -> dict:
    # Row i belongs to establishment k = i * 5 // 11 (≈ 2.2 periods each).
    k = "(i * 5 // 11)"
    return {
        "siren": f"lpad(CAST({k} * 2 // 3 AS VARCHAR), 9, '0')",
        "nic": f"lpad(CAST({k} % 100000 AS VARCHAR), 5, '0')",
        "siret": f"lpad(CAST({k} * 2 // 3 AS VARCHAR), 9, '0') || lpad(CAST({k} % 100000 AS VARCHAR), 5, '0')",
        "dateFin": "CASE WHEN i % 2 = 0 THEN '' ELSE '2015-06-30' END",
        "dateDebut": "CAST(DATE '1990-01-01' + CAST(i % 9000 AS INTEGER) AS VARCHAR)",
        "etatAdministratifEtablissement": "'A'",
        "changementEtatAdministratifEtablissement": "'false'",
        "changementEnseigneEtablissement": "'false'",
        "changementDenominationUsuelleEtablissement": "'false'",
        "activitePrincipaleEtablissement": "'94.99Z'",
        "nomenclatureActivitePrincipaleEtablissement": "'NAFRev2'",
        "changementActivitePrincipaleEtablissement": "'true'",
        "caractereEmployeurEtablissement": "'N'",
        "changementCaractereEmployeurEtablissement": "'false'",
    }


def _ul_hist(n: int) -> dict:
    k = "(i * 5 // 12)"  # ≈ 2.4 periods per legal unit
    cols = {c: "'false'" for c in LAYOUTS["unites_legales_historique"][0] if c.startswith("changement")}
    cols.update({
        "siren": f"lpad(CAST({k} AS VARCHAR), 9, '0')",
        "dateFin": "CASE WHEN i % 2 = 0 THEN '' ELSE '2015-06-30' END",
        "dateDebut": "CAST(DATE '1990-01-01' + CAST(i % 9000 AS INTEGER) AS VARCHAR)",
        "etatAdministratifUniteLegale": "'A'",
        "denominationUniteLegale": f"'SOCIETE ' || CAST({k} AS VARCHAR)",
        "categorieJuridiqueUniteLegale": "'9220'",
        "activitePrincipaleUniteLegale": "'94.99Z'",
        "nomenclatureActivitePrincipaleUniteLegale": "'NAFRev2'",
        "nicSiegeUniteLegale": "'00011'",
        "economieSocialeSolidaireUniteLegale": "'O'",
        "caractereEmployeurUniteLegale": "'N'",
    })
    return cols


def generate(folder: Path, n_etab: int, departement: str) -> None:
    """Write the four stocks in both deliverables into `folder` (skipped when already there)."""
    folder.mkdir(parents=True, exist_ok=True)
    n_ul = n_etab * 2 // 3 + 1
    plans = {
        "etablissements": (n_etab, _ETAB),
        "unites_legales": (n_ul, _UL),
        "etablissements_historique": (n_etab * 11 // 5, _etab_hist(n_etab)),
        "unites_legales_historique": (n_ul * 12 // 5, _ul_hist(n_ul)),
    }
    others = "[" + ", ".join(f"'{d}'" for d in _DEPS if d != departement) + "]"
    con = connect()
    for key, (n, exprs) in plans.items():
        zip_path = folder / official_filename(key, "csv")
        parquet_path = folder / official_filename(key, "parquet")
        if zip_path.exists() and parquet_path.exists():
            continue
        t = time.perf_counter()
        layout = LAYOUTS[key][0]
        # dep: ≈ 1.5 % in the target département, 0.5 % abroad (''), the rest spread over the others.
        select = ", ".join(f"CAST({exprs.get(c, chr(39) * 2)} AS VARCHAR) AS \"{c}\"" for c in layout)
        con.execute(f"""CREATE OR REPLACE TEMP VIEW gen AS
            WITH base AS (
                SELECT range AS i,
                       CASE WHEN hash(range) % 1000 < 15 THEN '{departement}'
                            WHEN hash(range) % 1000 < 20 THEN ''
                            ELSE {others}[CAST(hash(range * 7) % {len(_DEPS) - 1} AS INTEGER) + 1] END AS dep
                FROM range({n}))
            SELECT {select} FROM base""")
        csv_path = folder / csv_member_name(key)
        con.execute(f"COPY gen TO '{csv_path}' (HEADER, DELIMITER ',', QUOTE '\"')")
        # The Parquet deliverable types some codes as integers in some months: do it here for the legal form.
        casts = ", ".join(
            f"CAST(\"{c}\" AS BIGINT) AS \"{c}\"" if c == "categorieJuridiqueUniteLegale" else f"\"{c}\""
            for c in layout
        )
        con.execute(f"COPY (SELECT {casts} FROM gen) TO '{parquet_path}' (FORMAT parquet)")
        with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as z:
            z.write(csv_path, csv_path.name)
        csv_size = csv_path.stat().st_size
        csv_path.unlink()
        print(f"  generated {key}: {n:,} rows, CSV {csv_size / 1e6:,.0f} MB, zip "
              f"{zip_path.stat().st_size / 1e6:,.0f} MB, parquet {parquet_path.stat().st_size / 1e6:,.0f} MB "
              f"({time.perf_counter() - t:.0f} s)", flush=True)


_CHILD = """
import json, resource, sys, time
from pathlib import Path
from ess.db import connect
from sources.download import write_manifest
from sources.sirene import load
snapshot, work, dep = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
t = time.perf_counter()
con = connect()
stats = load(con, snapshot, departement=dep, millesime="2099-01", work_dir=work)
wall = time.perf_counter() - t
print(json.dumps({
    "wall_s": wall,
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "files": [{"table": s.table, "read": s.rows_read, "out_of_scope": s.rows_out_of_scope,
               "staged": s.rows_staged, "rejected": s.rejected_total} for s in stats],
}))
"""


_UNZIP_CHILD = """
import resource, subprocess, sys, time
t = time.perf_counter()
with open("/dev/null", "wb") as null:
    code = subprocess.call([sys.executable, "sources/unzip_stream.py", sys.argv[1], sys.argv[2]], stdout=null)
print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, code)
"""


def unzip_floor(zip_path: Path, member: str) -> tuple[float, float]:
    """Decompression alone (to /dev/null), from a small parent so the child's peak memory is its own."""
    out = subprocess.run([sys.executable, "-c", _UNZIP_CHILD, str(zip_path), member], capture_output=True,
                         text=True, cwd=ROOT, check=True)
    wall, rss, code = out.stdout.split()
    if code != "0":
        raise SystemExit(f"unzip_stream failed on {zip_path}")
    return float(wall), float(rss)


def run_once(snapshot: Path, work: Path, departement: str) -> dict:
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", _CHILD, str(snapshot), str(work), departement],
                         capture_output=True, text=True, cwd=ROOT, check=False)
    if out.returncode:
        raise SystemExit(f"load failed:\n{out.stderr}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["process_wall_s"] = time.perf_counter() - t
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, nargs="+", default=[2_000_000, 5_000_000], help="establishment rows")
    p.add_argument("--departement", default="38")
    p.add_argument("--runs", type=int, default=1, help="runs per case (the median is printed)")
    p.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "ess-bench-sirene")
    p.add_argument("--formats", nargs="+", default=["parquet", "csv"], choices=["parquet", "csv"])
    args = p.parse_args(argv)

    for n in args.rows:
        gen = args.dir / f"gen_{n}"
        print(f"== {n:,} establishment rows (files in {gen})", flush=True)
        generate(gen, n, args.departement)
        for fmt in args.formats:
            # A snapshot folder holding only this deliverable (links to the generated files).
            snap = args.dir / f"snap_{n}_{fmt}"
            snap.mkdir(parents=True, exist_ok=True)
            for key in LAYOUTS:
                link = snap / official_filename(key, fmt)
                if not link.exists():
                    link.symlink_to(gen / official_filename(key, fmt))
            if not (snap / "manifest.json").exists():
                # As `ess fetch` leaves it: the loader then takes each file's checksum from here.
                write_manifest(snap, [{"name": f.name, "size": f.stat().st_size, "sha256": _sha256(f)}
                                      for f in sorted(snap.glob("Stock*"))])
            results = [run_once(snap, args.dir / f"work_{n}_{fmt}", args.departement) for _ in range(args.runs)]
            wall = statistics.median(r["wall_s"] for r in results)
            proc = statistics.median(r["process_wall_s"] for r in results)
            rss = statistics.median(r["peak_rss_mb"] for r in results)
            print(f"  {fmt:8s} load() {wall:6.1f} s (whole process {proc:6.1f} s), peak RSS {rss:6.0f} MB",
                  flush=True)
            if fmt == "csv":
                key = "etablissements"
                floor, floor_rss = unzip_floor(gen / official_filename(key, "csv"), csv_member_name(key))
                print(f"    decompression alone of {official_filename(key, 'csv')}: {floor:.1f} s, "
                      f"peak RSS {floor_rss:.0f} MB", flush=True)
            for f in results[0]["files"]:
                print(f"    {f['table']:45s} read {f['read']:>11,}  out of scope {f['out_of_scope']:>11,}  "
                      f"staged {f['staged']:>9,}  rejected {f['rejected']:>5,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
