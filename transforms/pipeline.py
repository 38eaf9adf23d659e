"""The run's parameters, validated before any work, and the plain helpers the Prefect flow composes (resolving
inputs, the step parameters, the manifest). The sequence of steps itself lives in one place, flows/pipeline.py;
run() here is a thin alias kept for callers of this module."""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from ess import paths
from ess.errors import UserError

PERIMETRES_CSV = paths.REFERENCE_DIR / "perimetres.csv"
COMMUNES_GLOB = "communes_*.csv"
_MILLESIME = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def known_departements() -> set[str]:
    """Départements of the committed COG reference (the latest millésime)."""
    files = sorted(paths.REFERENCE_DIR.glob(COMMUNES_GLOB))
    files = [f for f in files if re.fullmatch(r"communes_\d{4}\.csv", f.name)]
    if not files:
        raise UserError(f"no commune reference in {paths.REFERENCE_DIR}: run `ess build-reference`")
    with files[-1].open(encoding="utf-8") as fh:
        return {row["code_departement"] for row in csv.DictReader(fh)}


def known_perimetres() -> list[str]:
    if not PERIMETRES_CSV.exists():
        return ["insee", "loi2014", "flag"]
    with PERIMETRES_CSV.open(encoding="utf-8") as fh:
        return [row["perimetre"] for row in csv.DictReader(fh)]


@dataclass
class RunConfig:
    departement: str = "38"  # the département this configuration runs the steps of
    millesime: str | None = None  # SIRENE 'YYYY-MM'; None = latest in the input folder
    annee_urssaf: int | None = None  # the employment year: URSSAF's figures of that year calibrate it
    annee_cog: int | None = None
    calage: bool = True  # False: employment from SIRENE's bands alone, every output says « non calé »
    perimetre: str = "insee"
    input_dir: str | None = None  # None = the generated sample (or data/raw when download is set)
    download: bool = False  # fetch the official files into input_dir (default data/raw) before the run
    sample_scale: float = 1.0  # size of the generated sample (1.0 ≈ a real département); tests use tiny scales
    report: bool = True  # build the annual report (charts, PDF) after publication
    warehouse_dir: str = field(default_factory=lambda: str(paths.warehouse_dir()))
    run_id: str = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S-%fZ"))
    force: bool = False  # publish even when a guard of transforms/guards.py fails (the outputs then say so)
    # Decided from the input files by resolve_inputs (synthetic_markers), whatever the command line says.
    synthetic: bool = False
    # Every département of the run (default: `departement` alone); the national files are staged once for all.
    departements: list[str] | None = None

    @property
    def uses_sample(self) -> bool:
        """No --input and no download: the generated sample of the département."""
        return self.input_dir is None and not self.download

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        """The inverse of to_dict."""
        names = cls.__dataclass_fields__.keys()
        return cls(**{k: v for k, v in d.items() if k in names})

    def for_departement(self, departement: str) -> "RunConfig":
        """The same run for another of its départements."""
        return replace(self, departement=departement, departements=list(self.departements or [departement]))

    def every_departement(self) -> list["RunConfig"]:
        return [self.for_departement(d) for d in (self.departements or [self.departement])]

    @classmethod
    def from_cli(cls, args) -> "RunConfig":
        codes = args.departement if isinstance(args.departement, (list, tuple)) else [args.departement]
        codes = [c for part in codes for c in str(part).split(",") if c.strip()]
        config = cls(
            departement=codes[0] if codes else "",
            departements=codes,
            millesime=args.millesime,
            annee_urssaf=args.annee_urssaf,
            annee_cog=args.annee_cog,
            calage=not getattr(args, "sans_calage", False),
            perimetre=args.perimetre,
            input_dir=args.input,
            download=bool(getattr(args, "download", False)),
            sample_scale=getattr(args, "sample_scale", 1.0),
            report=not getattr(args, "no_report", False),
            force=bool(getattr(args, "force", False)),
        )
        if getattr(args, "run_id", None):
            config.run_id = args.run_id
        if args.out:
            config.warehouse_dir = args.out
        config.validate()
        return config

    def validate(self) -> None:
        """Fail before any work, with a message saying what to change."""
        known = known_departements()
        codes = []
        for code in [self.departement, *(self.departements or [])]:
            code = str(code).strip().upper()
            if code not in known:
                raise UserError(
                    f"unknown département {code!r}: use an INSEE code such as 38, 01, 2A, 971 "
                    "(metropolitan codes have two characters)"
                )
            codes.append(code)
        self.departement = codes[0]
        # The run's départements, each once, in order; `departement` is one of them.
        self.departements = list(dict.fromkeys(codes[1:] or codes[:1]))
        if self.departement not in self.departements:
            self.departements.insert(0, self.departement)
        if self.millesime is not None and not _MILLESIME.match(self.millesime):
            raise UserError(f"millésime {self.millesime!r} is not of the form YYYY-MM (e.g. 2026-10)")
        for name in ("annee_urssaf", "annee_cog"):
            year = getattr(self, name)
            if year is not None and not 1998 <= int(year) <= dt.date.today().year + 1:
                raise UserError(f"{name.replace('_', ' ')} {year} is out of range")
        perimetres = known_perimetres()
        if self.perimetre not in perimetres:
            raise UserError(f"unknown perimeter {self.perimetre!r}; choose one of {perimetres} "
                            f"(defined in {PERIMETRES_CSV})")
        if self.input_dir is not None and not self.download and not Path(self.input_dir).is_dir():
            raise UserError(f"input folder {self.input_dir} does not exist: run `ess fetch` first, fix --input, "
                            "or add --download to fetch the official files into it")
        try:
            scale = float(self.sample_scale)
        except (TypeError, ValueError):
            scale = float("nan")
        if not 0 < scale <= 10:
            raise UserError(f"sample scale {self.sample_scale!r} must be a number in (0, 10] (1.0 ≈ a real "
                            "département)")
        self.sample_scale = scale
        if not str(self.warehouse_dir or "").strip():
            raise UserError("the warehouse folder is empty: give --out a folder")
        if not re.fullmatch(r"[0-9A-Za-z_.-]{1,64}", str(self.run_id)):
            raise UserError(f"run id {self.run_id!r} must be 1–64 letters, digits, '-', '_' or '.' "
                            "(it names the run folder)")

    def input_root(self) -> Path:
        """Where the snapshots are: the folder given, data/raw for downloads, else the generated sample (one folder
        per sample scale, so that a small test sample never stands in for the full one)."""
        if self.input_dir:
            return Path(self.input_dir)
        if self.download:
            return paths.raw_dir()
        folder = paths.sample_dir(self.departement)
        return folder if self.sample_scale == 1.0 else folder.with_name(f"{folder.name}-x{self.sample_scale:g}")

    def run_dir(self) -> Path:
        return paths.runs_dir() / f"dep{self.departement}" / self.run_id

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class RunResult:
    config: RunConfig
    manifest_path: Path
    manifest: dict

    def summary(self) -> str:
        """The end of `ess run`, in French: what was read, the headline figures rounded with the date each measures
        and its 90 % interval, where the PDF and the catalog are, and how long it took."""
        m = self.manifest
        synthetic = " — DONNÉES SYNTHÉTIQUES (échantillon généré, ne décrit pas la réalité)" if m.get("synthetic") else ""
        lines = [f"Run {self.config.run_id} — département {self.config.departement}, périmètre "
                 f"{self.config.perimetre}{synthetic}"]
        years = m.get("millesimes") or {}
        if years:
            lines.append(f"  Millésimes : SIRENE {years.get('sirene')}, URSSAF {years.get('urssaf') or '—'}, "
                         f"COG {years.get('cog')}")
        for source, files in (m.get("sources") or {}).items():
            for f in files:
                lines.append(f"  Lu {source} {Path(f['file']).name} : {entier(f['rows_read'])} lignes, "
                             f"{entier(f['rows_staged'])} retenues, {entier(f['rows_rejected_total'])} rejetées, "
                             f"{entier(f['rows_out_of_scope'])} hors champ")
        lines += headline_lines((m.get("checks") or {}).get("headline", {}))
        publication = m.get("publication") or {}
        if publication.get("forcee"):
            constats = (m.get("garde_fous") or {}).get("constats") or []
            lines.append("  PUBLIÉ AVEC --force malgré : " + "; ".join(c["libelle"] for c in constats))
        pdf = next((f for f in (m.get("rapport") or {}).get("fichiers") or [] if str(f).endswith(".pdf")), None)
        if pdf:
            lines.append(f"  Rapport PDF : {pdf}")
        outputs = m.get("outputs") or {}
        if outputs:
            lines.append(f"  Catalogue DuckDB : {outputs.get('catalog')} (depuis son dossier : "
                         f"cd {outputs.get('warehouse')} && duckdb ess.duckdb)")
            lines.append(f"  Entrepôt : {outputs.get('warehouse')} (version {outputs.get('version')})")
        lines.append(f"  Manifeste : {self.manifest_path}")
        durees = m.get("durees_etapes") or {}
        if durees:
            from ess.progress import duration

            lines.append(f"  Durée des étapes : {duration(sum(durees.values()))}")
        return "\n".join(lines)


def entier(value) -> str:
    """An integer with French thousands separators (« 15 349 »)."""
    return f"{int(value):,}".replace(",", "\u202f") if value is not None else "—"


def arrondi(value: float | None) -> str:
    """An employment figure rounded to what an estimate can claim: tens below 1 000, hundreds above."""
    if value is None:
        return "n.d."
    step = 10 if abs(value) < 1000 else 100
    return entier(round(value / step) * step)


def pourcent(value: float | None) -> str:
    return "n.d." if value is None else f"{100 * value:.1f}".replace(".", ",") + " %"


def date_fr(value) -> str:
    text = str(value or "")
    return f"{text[8:10]}/{text[5:7]}/{text[:4]}" if len(text) >= 10 and text[4] == "-" else text


def headline_lines(headline: dict) -> list[str]:
    """The headline figures in French, rounded, each with the date it measures: establishments at the millésime
    date, employment and shares on 31 December of the employment year with their 90 % intervals (« non calé » when
    not calibrated on URSSAF)."""
    h = headline or {}
    lines = []
    if h.get("nb_etablissements_ess") is not None:
        employeurs = h.get("nb_etablissements_employeurs_ess")
        lines.append(f"  Établissements de l'ESS au {date_fr(h.get('date_etablissements'))} : "
                     f"{entier(h['nb_etablissements_ess'])}"
                     + (f" (dont {entier(employeurs)} employeurs)" if employeurs is not None else ""))
    if h.get("effectif_ess_central") is not None:
        calage = "calé sur l'URSSAF" if h.get("statut_effectifs", "cale") == "cale" else "non calé, ordre de grandeur"
        au = date_fr(h.get("date_effectifs"))
        lines.append(f"  Emploi salarié de l'ESS au {au} ({calage}) : {arrondi(h['effectif_ess_central'])} "
                     f"(intervalle à 90 % : {arrondi(h.get('effectif_ess_ic90_bas'))} – "
                     f"{arrondi(h.get('effectif_ess_ic90_haut'))})")
        for key, what in (("total", "dans tout l'emploi salarié"), ("prive", "dans l'emploi salarié privé (URSSAF)")):
            central = h.get(f"part_ess_effectif_{key}_central")
            if central is not None:
                lines.append(f"  Part de l'ESS {what} au {au} : {pourcent(central)} (intervalle à 90 % : "
                             f"{pourcent(h.get(f'part_ess_effectif_{key}_ic90_bas'))} – "
                             f"{pourcent(h.get(f'part_ess_effectif_{key}_ic90_haut'))})")
    known = {"date_etablissements", "nb_etablissements_ess", "nb_etablissements_employeurs_ess", "date_effectifs",
             "statut_effectifs", "effectif_ess_central", "effectif_ess_ic90_bas", "effectif_ess_ic90_haut",
             *(f"part_ess_effectif_{k}_{b}" for k in ("total", "prive") for b in ("central", "ic90_bas", "ic90_haut"))}
    lines += [f"  {key} : {value}" for key, value in h.items() if key not in known]
    return lines


def write_json_atomic(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    tmp.replace(path)


SOURCES = ("territoires", "sirene", "urssaf")


# The marker files of the generated sample (sources.sample.MARKER_JSON / MARKER_FILE, at the sample's root) and the
# key-value metadata it writes into every Parquet file: any of them makes a run synthetic.
SYNTHETIC_MARKERS = ("synthetic.json", "SYNTHETIC.md")
SYNTHETIC_PARQUET_KEY = b"ess:synthetic"


def synthetic_markers(root: Path, snapshots: dict[str, Path | None]) -> list[str]:
    """The evidence that the input is synthetic: marker files in the input root, a snapshot folder or one of their
    parents, and Parquet files of the snapshots whose metadata says `ess:synthetic=true` (CSV and zip files cannot
    say it). Empty for real files."""
    import pyarrow.parquet as pq

    found = set()
    folders = {Path(root).resolve(), *(Path(p).resolve() for p in snapshots.values() if p)}
    for folder in {f for folder in folders for f in (folder, *folder.parents)}:
        found.update(str(folder / name) for name in SYNTHETIC_MARKERS if (folder / name).is_file())
    for snapshot in snapshots.values():
        for path in sorted(Path(snapshot).rglob("*.parquet")) if snapshot else []:
            try:
                metadata = pq.read_schema(path).metadata or {}
            except Exception:  # noqa: BLE001 — not readable as Parquet: staging will say why
                continue
            if metadata.get(SYNTHETIC_PARQUET_KEY, b"").lower() == b"true":
                found.add(str(path))
    return sorted(found)


def sample_missing(config: RunConfig) -> bool:
    """The run uses the generated sample and it is not there yet."""
    return config.uses_sample and not (config.input_root() / "SYNTHETIC.md").exists()


def ensure_sample(config: RunConfig) -> None:
    """Generate the sample of the run's département when the run uses it and it is missing."""
    if sample_missing(config):
        from sources.sample import write_sample

        write_sample(config.input_root(), departement=config.departement, scale=config.sample_scale)


def resolve_inputs(config: RunConfig) -> dict[str, Path | None]:
    """Find (or, for the sample, generate) the snapshot of every source, and fix the run's millésimes. Whether the
    run is synthetic is decided here, from the files (config.synthetic)."""
    from transforms.staging import snapshot_dir

    root = config.input_root()
    ensure_sample(config)
    inputs: dict[str, Path | None] = {
        "sirene": snapshot_dir(root, "sirene", config.millesime),
        "urssaf": urssaf_snapshot(root, config),
    }
    try:
        inputs["territoires"] = snapshot_dir(root, "territoires", config.annee_cog and str(config.annee_cog))
    except UserError:
        if config.annee_cog is not None and config.input_dir is not None:
            raise
        inputs["territoires"] = None  # the committed COG reference
    config.millesime = inputs["sirene"].name
    if config.annee_urssaf is None and inputs["urssaf"] is not None:
        # a URSSAF snapshot is filed under the latest year both its files cover (sources/fetch.py)
        config.annee_urssaf = int(inputs["urssaf"].name)
    if inputs["territoires"] is not None:
        config.annee_cog = int(inputs["territoires"].name)
    elif config.annee_cog is None:
        config.annee_cog = latest_reference_cog()
    config.synthetic = bool(synthetic_markers(root, inputs))
    return inputs


def urssaf_snapshot(root: Path, config: RunConfig) -> Path | None:
    """The URSSAF snapshot of the run. `annee_urssaf` is the employment year: the snapshot of that name when there
    is one, else the oldest later one (its files hold the earlier years too); without calibration the files are
    optional."""
    from transforms.staging import available_millesimes, snapshot_dir

    found = available_millesimes(root, "urssaf")
    if not config.calage and not found:
        return None
    if config.annee_urssaf is None or str(config.annee_urssaf) in found:
        return snapshot_dir(root, "urssaf", config.annee_urssaf and str(config.annee_urssaf))
    later = [y for y in found if int(y) > int(config.annee_urssaf)]
    if later:
        return snapshot_dir(root, "urssaf", later[0])
    return snapshot_dir(root, "urssaf", str(config.annee_urssaf))  # the clear "no snapshot" message


def latest_reference_cog() -> int:
    years = sorted(int(p.stem.split("_")[1]) for p in paths.REFERENCE_DIR.glob(COMMUNES_GLOB)
                   if re.fullmatch(r"communes_\d{4}\.csv", p.name))
    if not years:
        raise UserError(f"no commune reference in {paths.REFERENCE_DIR}: run `ess build-reference`")
    return years[-1]


def params_of(config: RunConfig) -> dict:
    return {
        "departement": config.departement,
        "millesime": config.millesime,
        "annee_urssaf": config.annee_urssaf,
        "annee_cog": config.annee_cog,
        "calage": config.calage,
        "perimetre": config.perimetre,
        "synthetic": config.synthetic,
        "run_id": config.run_id,
    }


def run(config: RunConfig) -> RunResult:
    """The whole pipeline: an alias of flows.pipeline.run_flow (the Prefect flow is the one composition of the
    steps; without PREFECT_API_URL it runs on a temporary local Prefect server)."""
    from flows.pipeline import run_flow

    return run_flow(config)


def run_manifest(config: RunConfig, inputs: dict, steps, checks: dict) -> dict:
    """Provenance of a run: parameters, the snapshots and their checksums, row accounting, checks, and why the
    run is synthetic when it is."""
    from sources.download import read_manifest

    snapshots = {}
    for source, folder in inputs.items():
        snapshots[source] = {"dossier": str(folder) if folder else "data/reference (COG committed)",
                             "manifest": read_manifest(folder) if folder else None}
    return {
        "run_id": config.run_id,
        "parametres": config.to_dict(),
        "synthetic": config.synthetic,
        "marqueurs_synthetiques": synthetic_markers(config.input_root(), inputs) if config.synthetic else [],
        "millesimes": {"sirene": config.millesime, "urssaf": config.annee_urssaf, "cog": config.annee_cog},
        "snapshots": snapshots,
        "sources": {k: v for k, v in steps.stats.items() if k in SOURCES},
        "steps": {k: v for k, v in steps.stats.items() if k not in SOURCES},
        "checks": checks,
        "tables": steps.tables,
    }


def restore_run_manifests(config: RunConfig) -> list[Path]:
    """A run killed after its publication became current but before it wrote its own manifest left its run folder
    without manifest.json, while the warehouse holds the same manifest as published: copy it back. Returns the
    manifests restored (for the département of `config`, in its warehouse)."""
    from transforms.publish import MANIFEST, PUBLICATIONS

    restored = []
    folder = Path(config.warehouse_dir) / PUBLICATIONS / f"departement={config.departement}"
    for published in sorted(folder.glob(f"*/*/{MANIFEST}")):
        data = json.loads(published.read_text(encoding="utf-8"))
        run_dir = paths.runs_dir() / f"dep{config.departement}" / str(data.get("run_id"))
        if run_dir.is_dir() and not (run_dir / MANIFEST).exists():
            write_json_atomic(run_dir / MANIFEST, data)
            restored.append(run_dir / MANIFEST)
    return restored
