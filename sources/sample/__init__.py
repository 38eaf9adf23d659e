"""The embedded synthetic sample: a deterministic, realistic département in exactly the official file formats.

`write_sample(out_root)` lays the files out like the raw snapshots (`<out_root>/<source>/<millésime>/<official
name>`), so the pipeline reads them with the same code as official downloads, and adds the ground truth the
estimates are measured against. Everything it writes is marked synthetic (SYNTHETIC.md at the root, and the
`ess:synthetic=true` key in every Parquet file).
"""

from __future__ import annotations

import gc
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ess.caching import file_sha256
from ess.paths import REFERENCE_DIR
from sources.sample import model as m
from sources.sample.generator_reference import load_reference
from sources.sample.writers import SYNTHETIC_KEY, write_insee_csv, write_parquet, zip_single

GENERATOR_VERSION = "2.4.0"
MARKER_FILE = "SYNTHETIC.md"
MARKER_JSON = "synthetic.json"
SIRENE_STEMS = {
    "etablissements": "StockEtablissement",
    "unites_legales": "StockUniteLegale",
    "etablissements_historique": "StockEtablissementHistorique",
    "unites_legales_historique": "StockUniteLegaleHistorique",
}
GROUND_TRUTH_DIR = "ground_truth"
TRUTH_ESTABLISHMENTS = "effectifs_etablissements.parquet"
TRUTH_YEARLY = "effectifs_annuels.parquet"
TRUTH_COMMUNES = "totaux_communes.csv"
TRUTH_FAMILIES = "totaux_familles_departement.csv"
TERRITORIES_YEAR = 2026


def is_synthetic(root: Path) -> bool:
    """True when a folder (or one of its parents) holds the sample's marker file."""
    root = Path(root).resolve()
    return any((p / MARKER_JSON).is_file() for p in (root, *root.parents))


@dataclass
class Sample:
    """What the generator drew, handed to every source's sample writer: the département, the reference it drew
    from, the world (establishments and their lives), the SIRENE tables, the employment timeline and the truth."""

    departement: str
    seed: int
    scale: float
    ref: Any
    world: Any
    tables: Any  # sirene_tables.SireneTables
    timeline: Any
    truth: Any  # the establishments' truth (pandas DataFrame)
    meta: dict
    paths: dict[str, str] = field(default_factory=dict)  # written files, by key (the summary's)
    rows: dict[str, int] = field(default_factory=dict)  # rows written, by key
    pool: Any = None  # where later() runs work beside the writers (a ThreadPoolExecutor), else at once
    pending: list = field(default_factory=list)

    def later(self, work, *args, **kwargs) -> None:
        """Run `work` beside the next writers (compressing a file releases the GIL while the next source's files,
        Python-bound, are drawn): write_sample waits for it, and raises its error, before the markers."""
        if self.pool is None:
            work(*args, **kwargs)
        else:
            self.pending.append(self.pool.submit(work, *args, **kwargs))


def write_sample(out_root: Path, *, departement: str = "38", seed: int = 2012, scale: float = 1.0,
                 reference_dir: Path | None = None, exceptions_champ_urssaf: bool = True) -> dict:
    """Write the synthetic sample of a département under out_root and return a summary (rows, paths, seconds).
    Every source of the registry writes its files (SAMPLE_WRITERS, or the source module's own `write_sample`).

    `exceptions_champ_urssaf`: plant the units under the MSA that the rule of the URSSAF field does not see
    (model.URSSAF_FIELD_EXCEPTIONS, drawn from their own random stream); False gives the truth and URSSAF files of
    generator 2.3.0 (the field is exactly the rule), for before/after measures. SIRENE files are the same either way."""
    from sources import registry
    from sources.sample import sirene_tables, truth
    from sources.sample.world import build_world

    t0 = time.perf_counter()
    departement = str(departement).strip().upper()
    if departement.isdigit() and len(departement) == 1:
        departement = "0" + departement
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale!r}")
    out_root = Path(out_root)
    ref = load_reference(Path(reference_dir or REFERENCE_DIR), departement)
    meta = {b"ess:generator_version": GENERATOR_VERSION.encode(), b"ess:seed": str(seed).encode(),
            b"ess:departement": departement.encode()}

    # Tens of millions of short-lived strings: the cyclic GC only slows this down (nothing here makes cycles).
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        rng = np.random.default_rng(seed)
        world = build_world(ref, departement, rng, scale)
        tables = sirene_tables.build_tables(world, ref, rng)
        t_gen = time.perf_counter()

        years = np.arange(m.COMMUNE_APE_FIRST_YEAR, m.URSSAF_YEAR + 1)
        # the field's exceptions: one uniform number per legal unit from a stream of their own (the other draws stay)
        exception_draw = (np.random.default_rng([seed, m.URSSAF_EXCEPTION_STREAM]).random(len(world.units))
                          if exceptions_champ_urssaf else None)
        timeline = truth.build_timeline(world, tables, ref.rules, years, np.random.default_rng([seed, 2]),
                                        exception_draw)
        t_truth = truth.establishment_truth(world, tables, timeline)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="echantillon") as pool:
            sample = Sample(departement, seed, scale, ref, world, tables, timeline, t_truth, meta, pool=pool)
            _write_ground_truth(out_root / GROUND_TRUTH_DIR, sample)
            for name, module in registry.SOURCES.items():
                writer = SAMPLE_WRITERS.get(name) or getattr(module, "write_sample", None)
                if writer is not None:
                    writer(out_root / name, sample)
            for work in sample.pending:
                work.result()
    finally:
        if gc_was_enabled:
            gc.enable()

    d = t_truth[t_truth["localisation"] == "departement"]
    a = d[d["actif_fin_annee_urssaf"]]
    x = a[a["exception_champ_urssaf"]]
    summary = {
        "departement": departement,
        "seed": seed,
        "scale": scale,
        "exceptions_champ_urssaf": bool(exceptions_champ_urssaf),
        "generator_version": GENERATOR_VERSION,
        "millesime_sirene": m.MILLESIME,
        "annee_urssaf": m.URSSAF_YEAR,
        "rows": sample.rows,
        "paths": sample.paths,
        "territoires": sample.paths.pop("territoires", ""),
        "edge_cases": tables.edge_cases,
        "truth": {
            "etablissements_actifs": int(d["actif"].sum()),
            "annee_effectifs": m.URSSAF_YEAR,
            "etablissements_employeurs": int(a["employeur"].sum()),
            "effectif_total": int(a["effectif_vrai"].sum()),
            "effectif_ess_insee": int(a.loc[truth.in_perimetre(a["perimetres"], "insee"), "effectif_vrai"].sum()),
            "part_ess_effectif": round(float(a.loc[truth.in_perimetre(a["perimetres"], "insee"),
                                                   "effectif_vrai"].sum())
                                       / max(1, int(a["effectif_vrai"].sum())), 4),
            # employers under the MSA that the rule of the URSSAF field puts in it (absent from URSSAF's files)
            "etablissements_employeurs_exception_champ_urssaf": int(x["employeur"].sum()),
            "effectif_exception_champ_urssaf": int(x["effectif_vrai"].sum()),
            "effectif_ess_insee_exception_champ_urssaf": int(
                x.loc[truth.in_perimetre(x["perimetres"], "insee"), "effectif_vrai"].sum()),
        },
        "seconds_generation": round(t_gen - t0, 2),
    }
    _write_marker(out_root, summary)
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    return summary


def _write_ground_truth(gt_dir: Path, sample: Sample) -> None:
    from sources.sample import truth

    gt_dir.mkdir(parents=True, exist_ok=True)
    write_parquet(truth.truth_table(sample.truth), gt_dir / TRUTH_ESTABLISHMENTS, extra_metadata=sample.meta)
    yearly = truth.yearly_truth(sample.world, sample.tables, sample.timeline, m.URSSAF_FIRST_YEAR_ESS)
    write_parquet(truth.truth_table(yearly), gt_dir / TRUTH_YEARLY, extra_metadata=sample.meta)
    communes = truth.commune_totals(sample.truth, sample.ref.departement)
    communes.to_csv(gt_dir / TRUTH_COMMUNES, index=False, lineterminator="\n")
    families = truth.family_totals(sample.truth)
    families.to_csv(gt_dir / TRUTH_FAMILIES, index=False, lineterminator="\n")
    sample.paths["ground_truth_etablissements"] = str(gt_dir / TRUTH_ESTABLISHMENTS)
    sample.paths["ground_truth_annuel"] = str(gt_dir / TRUTH_YEARLY)
    sample.paths["ground_truth_communes"] = str(gt_dir / TRUTH_COMMUNES)
    sample.paths["ground_truth_familles"] = str(gt_dir / TRUTH_FAMILIES)
    sample.rows["ground_truth_etablissements"] = len(sample.truth)
    sample.rows["ground_truth_annuel"] = len(yearly)


# --- the sources' sample files (each under <out_root>/<source>/<millésime>/, like the official snapshots) --------


def _write_sirene(source_root: Path, sample: Sample) -> None:
    from sources.sample import sirene_tables

    sirene_dir = source_root / m.MILLESIME
    for key, stem in SIRENE_STEMS.items():
        table = getattr(sample.tables, key)
        csv_path = sirene_dir / f"{stem}_utf8.csv"
        write_insee_csv(table, csv_path)
        zip_path = sirene_dir / f"{stem}_utf8.zip"
        sample.later(zip_single, csv_path, zip_path, arcname=csv_path.name)
        pq_path = write_parquet(sirene_tables.parquet_types(table), sirene_dir / f"{stem}_utf8.parquet",
                                extra_metadata=sample.meta)
        sample.paths[f"sirene_{key}_csv"] = str(zip_path)
        sample.paths[f"sirene_{key}_parquet"] = str(pq_path)
        sample.rows[f"sirene_{key}"] = table.num_rows


def _write_urssaf(source_root: Path, sample: Sample) -> None:
    from sources.sample import urssaf_files

    urssaf_dir = source_root / str(m.URSSAF_YEAR)
    ess_path = urssaf_dir / urssaf_files.ESS_DEPARTEMENT_FILE
    ape_path = urssaf_dir / urssaf_files.COMMUNE_APE_FILE
    urssaf_rng = np.random.default_rng([sample.seed, 1])
    sample.rows["urssaf_ess_departements"] = urssaf_files.write_ess_departement(
        ess_path, sample.world, sample.timeline, sample.ref, sample.departement, urssaf_rng)
    sample.rows["urssaf_commune_ape"] = urssaf_files.write_commune_ape(
        ape_path, sample.world, sample.timeline, sample.ref, sample.departement, urssaf_rng)
    sample.paths["urssaf_ess_departements"] = str(ess_path)
    sample.paths["urssaf_commune_ape"] = str(ape_path)


def _write_territories(source_root: Path, sample: Sample) -> None:
    """The territory files come from sources.territories (official formats built from the reference tables)."""
    from sources.territories import write_official_files

    written = write_official_files(source_root / str(TERRITORIES_YEAR), departement=sample.departement,
                                   annee=TERRITORIES_YEAR)
    sample.paths["territoires"] = "written: " + ", ".join(sorted(Path(p).name for p in written))


# The generator's writers of the built-in sources, by source name. A source outside the generator may expose its
# own `write_sample(source_root, sample)` in its module (called with the Sample above).
SAMPLE_WRITERS = {"sirene": _write_sirene, "urssaf": _write_urssaf, "territoires": _write_territories}


def _write_marker(out_root: Path, summary: dict) -> None:
    """SYNTHETIC.md for people, synthetic.json for programs; both free of timings so reruns are identical."""
    stable = {k: v for k, v in summary.items() if not k.startswith("seconds") and k != "paths"}
    stable["synthetic"] = True
    stable["parquet_metadata_key"] = SYNTHETIC_KEY.decode()
    # every file's size and checksum: a file copied out of the sample without these markers (a CSV cannot carry
    # one) is still recognised as synthetic (flows/inputs.py)
    stable["fichiers"] = {str(p.relative_to(out_root)): {"octets": p.stat().st_size, "sha256": file_sha256(p)}
                          for p in sorted(out_root.rglob("*"))
                          if p.is_file() and p.name not in (MARKER_JSON, MARKER_FILE)}
    (out_root / MARKER_JSON).write_text(json.dumps(stable, indent=2, ensure_ascii=False, sort_keys=True) + "\n",
                                        encoding="utf-8")
    edge = "\n".join(f"- `{k}`: {v}" for k, v in summary["edge_cases"].items())
    rows = "\n".join(f"- `{k}`: {v}" for k, v in summary["rows"].items())
    text = f"""# SYNTHETIC DATA — not real establishments

Everything under this folder was generated by `ess sample` (generator version {GENERATOR_VERSION}, seed
{summary['seed']}, scale {summary['scale']}, département {summary['departement']}). It imitates the official files
(SIRENE stock {m.MILLESIME}, URSSAF exports {m.URSSAF_YEAR}, territory files) in their exact formats and names, so
that the pipeline runs on it with the same code as on official downloads. No figure here describes a real
establishment, commune or département: names, numbers and headcounts are drawn at random. SIREN/SIRET numbers pass
the Luhn check and may coincide with real ones by chance; commune, EPCI and département identifiers are real.

Every Parquet file carries the key-value metadata `ess:synthetic=true` and every zip the archive comment
`ess:synthetic=true`; `{MARKER_JSON}` records every file's size and checksum, so that a CSV copied out of this folder
is still recognised as synthetic by the pipeline. The same seed always gives byte-identical files.

## Layout
- `sirene/{m.MILLESIME}/`: Stock*_utf8.zip (CSV) and Stock*_utf8.parquet (typed as INSEE did: nic, categorie
  juridique and years as integers, dates as dates).
- `urssaf/{m.URSSAF_YEAR}/`: the two open.urssaf.fr exports (`;`-separated).
- `territoires/{TERRITORIES_YEAR}/`: territory files written by `sources.territories`.
- `{GROUND_TRUTH_DIR}/`: the truth — `{TRUTH_ESTABLISHMENTS}` (every establishment: state at the millésime, situation,
  membership and employment on 31/12/{m.URSSAF_YEAR} and its annual average, the band of its band year),
  `{TRUTH_YEARLY}` (employment of every establishment and year since {m.URSSAF_FIRST_YEAR_ESS}: 31/12 headcount, annual
  average, the year's activity and membership), `{TRUTH_COMMUNES}` and `{TRUTH_FAMILIES}` (true totals: establishments
  at the millésime, employment on 31/12/{m.URSSAF_YEAR}).

## How the truth relates to the files (the estimator shares none of this)
- Each employer establishment has a size level (log-normal) reached a few years after its creation, then moves by
  heavy-tailed yearly shocks, its sector's trend and the 2009 and 2020 dips, and shrinks before it closes; small
  employers sometimes have nobody on 31 December; some hire years after their creation; a few non-employers have
  short spells (sources/sample/employment.py). Headcounts are those of 31 December, {m.HISTORY_FIRST_YEAR}–{int(m.MILLESIME[:4])}.
- SIRENE's band is the band of the headcount of its band year: {m.BAND_YEAR} for most open establishments, older for
  some (not updated), the last full year before closing for some closed ones, none for those created after
  {m.BAND_YEAR}. Headcounts drift out of their bands in later years. The employer flag follows the latest year, with
  errors.
- URSSAF commune × APE: the 31/12 headcounts of the field's establishments open then (closed since included), by
  commune and the year's APE — URSSAF's own APE record differs for a few establishments — with a few values left
  empty. URSSAF ESS table: the annual average of quarterly headcounts (establishments counted for the quarters they
  lived, seasonal activities weighted accordingly) by URSSAF's family of the year, « Hors ESS » for the rest of the
  field. No noise is added: the files are exact aggregates of the truth under URSSAF's definitions.
- Membership (family, perimeters, URSSAF field) of the truth follows the generator's own rules (model.py) applied to
  the year's activity and ESS flag, not the pipeline's reference tables. The URSSAF field is the rule (legal form,
  activity division) minus exceptions the rule does not see (URSSAF_FIELD_EXCEPTIONS: units under the MSA such as
  maisons familiales rurales, agricultural bodies and unions, subsidiaries of agricultural credit and insurance;
  truth column `exception_champ_urssaf`): their jobs are in the truth, not in the URSSAF files. SIRENE's history
  carries a unit's flag only from the day it was recorded (2018 onwards); in the truth a flagged unit is of the ESS
  since its creation, except half of the commercial ESS companies created before the law of 31 July 2014, which
  became so later (before their flag was recorded): the pipeline, which gives a past year the first flag recorded
  after it, counts those too early.
- Public bodies (communes, EPCI, département) and one establishment per top band (41 to 53) are always generated, so
  every band code occurs whatever the scale; in small samples these few large employers weigh a lot.
- Zones d'emploi are made up (EPCI clusters) when the reference table has none.

## Rows
{rows}

## Edge cases planted (real files have them)
{edge}
"""
    (out_root / MARKER_FILE).write_text(text, encoding="utf-8")
