"""The run's settings, declared once: each field carries its default, its help text, its command-line flag and its
validation rule. The `ess` command line (flows/cli.py), the Prefect flows (flows/pipeline.py, flows/france.py) and
the deployments (flows/deployments.py) all derive their arguments and parameters from `Settings`, and all validate
through `Settings.validated()` — one rule per field, the same for every verb.

A Settings is immutable: validation, resolving the inputs and choosing a département all return a new one.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Callable

from ess import paths
from ess.errors import UserError

MILLESIME_FORMAT = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
RUN_ID_FORMAT = re.compile(r"^[0-9A-Za-z_.-]{1,64}$")
COMMUNES_PATTERN = "communes_*.csv"
_COMMUNES_FILE = re.compile(r"communes_(\d{4})\.csv")
FIRST_YEAR = 1998  # the oldest year any source covers (URSSAF's series start then)


# --- the rules (one per field; each returns the normalised value or raises UserError) -------------------------------


def reference_communes(reference_dir: str | Path | None = None) -> list[Path]:
    """The COG commune files (communes_<year>.csv) of the reference, the user's folder layered over the committed
    one, oldest first."""
    found = [p for p in paths.reference_files(COMMUNES_PATTERN, reference_dir) if _COMMUNES_FILE.fullmatch(p.name)]
    if not found:
        raise UserError(f"no commune reference (communes_<year>.csv) in {paths.REFERENCE_DIR}"
                        + (f" or {reference_dir}" if reference_dir else "") + ": run `ess build-reference`")
    return sorted(found, key=lambda p: p.name)


def latest_reference_cog(reference_dir: str | Path | None = None) -> int:
    return int(_COMMUNES_FILE.fullmatch(reference_communes(reference_dir)[-1].name).group(1))


def known_departements(reference_dir: str | Path | None = None) -> set[str]:
    """Départements of the COG reference (its latest millésime)."""
    import csv

    with reference_communes(reference_dir)[-1].open(encoding="utf-8") as fh:
        return {row["code_departement"] for row in csv.DictReader(fh)}


def check_departement(code: Any, reference_dir: str | Path | None = None) -> str:
    """A département code of the COG reference, normalised ('2a' → '2A', '1' → '01'). The one rule for every
    verb (fetch, run, serve, france)."""
    text = str(code).strip().upper()
    if len(text) == 1 and text.isdigit():
        text = "0" + text
    if text not in known_departements(reference_dir):
        raise UserError(f"unknown département {str(code).strip()!r}: use an INSEE code of the COG such as 38, 01, "
                        "2A, 971 (Corsica is 2A/2B, not 20)")
    return text


def check_millesime(value: Any) -> str | None:
    if value is None:
        return None
    if not MILLESIME_FORMAT.match(str(value)):
        raise UserError(f"millésime {value!r} is not of the form YYYY-MM (e.g. 2026-10)")
    return str(value)


def millesime_date(millesime: str) -> dt.date:
    """The date a SIRENE millésime describes: the last day of its month ('2026-10' -> 2026-10-31)."""
    try:
        year, month = int(millesime[:4]), int(millesime[5:7])
        first_next = dt.date(year + month // 12, month % 12 + 1, 1)
    except (ValueError, IndexError):
        raise UserError(f"millésime {millesime!r} is not of the form YYYY-MM (e.g. 2026-01)") from None
    return first_next - dt.timedelta(days=1)


def _year(label: str) -> Callable[[Any, dict], int | None]:
    def rule(value: Any, _settings: dict) -> int | None:
        if value is None:
            return None
        try:
            year = int(value)
        except (TypeError, ValueError):
            raise UserError(f"{label} {value!r} is not a year (e.g. 2025)") from None
        if not FIRST_YEAR <= year <= dt.date.today().year + 1:
            raise UserError(f"{label} {year} is out of range ({FIRST_YEAR}–{dt.date.today().year + 1})")
        return year
    return rule


def check_folder_option(flag: str, value: Any) -> None:
    """A folder option given a file, or a path through a file, is refused by its name (it would fail later as a
    NotADirectoryError); a folder that does not exist yet is fine."""
    path = Path(str(value)).expanduser()
    for existing in (path, *path.parents):
        if existing.exists():
            if not existing.is_dir():
                raise UserError(f"{flag} {value} {'is' if existing == path else f'goes through {existing}, which is'}"
                                " a file, not a folder: give a folder")
            return


def _reference_dir(value: Any, _settings: dict) -> str | None:
    if value is None or str(value).strip() == "":
        return None
    check_folder_option("--reference-dir", value)
    folder = Path(value).expanduser()
    if not folder.is_dir():
        raise UserError(f"reference folder {value} does not exist: give --reference-dir a folder of reference CSVs "
                        f"(files named like those of {paths.REFERENCE_DIR}, which replace them)")
    return str(folder.resolve())


def _departement(value: Any, settings: dict) -> str:
    return check_departement(value, settings.get("reference_dir"))


def _departements(value: Any, settings: dict) -> list[str]:
    """The run's départements, each once, in order; the settings' `departement` is one of them."""
    given = split_codes(value)
    codes = [check_departement(c, settings.get("reference_dir")) for c in given] or [settings["departement"]]
    codes = list(dict.fromkeys(codes))
    return codes if settings["departement"] in codes else [settings["departement"], *codes]


def split_codes(value: Any) -> list[str]:
    """'38,73' or ['38', '73,26'] → ['38', '73', '26']."""
    parts = [value] if isinstance(value, str) else list(value or [])
    return [c.strip() for part in parts for c in str(part).split(",") if c.strip()]


def _perimetres(settings: dict) -> list[str]:
    from transforms.reference import perimetres

    return perimetres(settings.get("reference_dir"))


def _perimetre(value: Any, settings: dict) -> str:
    from transforms.reference import default_perimetre

    if value is None or str(value).strip() == "":
        return default_perimetre(settings.get("reference_dir"))
    known = _perimetres(settings)
    if value not in known:
        raise UserError(f"unknown perimeter {value!r}; choose one of {known} (defined in perimetres.csv of "
                        f"{settings.get('reference_dir') or paths.REFERENCE_DIR})")
    return str(value)


def _perimetres_cube(value: Any, settings: dict) -> list[str] | None:
    if not value:
        return None
    names = sorted({c.strip() for part in ([value] if isinstance(value, str) else value)
                    for c in str(part).split(",") if c.strip()})
    known = _perimetres(settings)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UserError(f"--perimetres-cube: unknown perimeter(s) {unknown}; choose among {known}")
    if settings["perimetre"] not in names:
        raise UserError(f"--perimetres-cube {names} must include the run's perimeter {settings['perimetre']!r}")
    return names


def _input_dir(value: Any, settings: dict) -> str | None:
    if value is None:
        return None
    check_folder_option("--input", value)
    if not settings.get("download") and not Path(value).is_dir():
        raise UserError(f"input folder {value} does not exist: fetch the official files into it first "
                        f"(`ess fetch --out {value}`), fix --input, or add --download to fetch them as the run starts")
    return str(value)


def _sample_scale(value: Any, _settings: dict) -> float:
    try:
        scale = float(value)
    except (TypeError, ValueError):
        scale = float("nan")
    if not 0 < scale <= 10:
        raise UserError(f"sample scale {value!r} must be a number in (0, 10] (1.0 ≈ a real département)")
    return scale


def _warehouse_dir(value: Any, _settings: dict) -> str:
    if not str(value or "").strip():
        raise UserError("the warehouse folder is empty: give --out a folder")
    check_folder_option("--out", value)
    return str(value)


def _run_id(value: Any, _settings: dict) -> str:
    if not RUN_ID_FORMAT.fullmatch(str(value)):
        raise UserError(f"run id {value!r} must be 1–64 letters, digits, '-', '_' or '.' (it names the run folder)")
    return str(value)


def _boolean(value: Any, _settings: dict) -> bool:
    return bool(value)


# --- the fields --------------------------------------------------------------------------------------------------


def setting(default: Any = None, *, help: str, rule: Callable[[Any, dict], Any] | None = None,
            flags: tuple[str, ...] = (), user: bool = True, factory: Callable[[], Any] | None = None,
            **argparse_kwargs: Any):
    """A settings field: `flags` and `argparse_kwargs` make its command-line option (none: not on the command line),
    `rule(value, settings so far)` validates and normalises it, `user=False` marks a field decided by the pipeline
    itself (never a parameter)."""
    meta = {"help": help, "rule": rule, "flags": flags, "user": user, "argparse": argparse_kwargs}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def _now_id() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S-%fZ")


@dataclass(frozen=True)
class Settings:
    """Every setting of a run. Fields are validated in this order (a rule may use the fields above it)."""

    reference_dir: str | None = setting(
        None, rule=_reference_dir, flags=("--reference-dir",), metavar="DOSSIER",
        help="a folder of reference CSVs layered over data/reference/: a file there replaces the committed file "
             "of the same name, new files are added (your own perimeter, zoning…); the steps recompute when "
             "its files change")
    departement: str = setting(
        "38", rule=_departement, help="the département these settings run the steps of (the first of "
                                      "`departements`)")
    departements: list[str] | None = setting(
        None, rule=_departements, flags=("--departement", "-d"), nargs="+", action="extend", metavar="CODE",
        help="département code(s) of the COG: 38 (default), 01…95, 2A/2B, 971…976; several: -d 38 73 26 (the "
             "national files are read once for all)")
    millesime: str | None = setting(
        None, rule=lambda v, _s: check_millesime(v), flags=("--millesime",), metavar="AAAA-MM",
        help="SIRENE millésime YYYY-MM (default: the latest found in the input)")
    annee_urssaf: int | None = setting(
        None, rule=_year("annee urssaf"), flags=("--annee-urssaf",), type=int, metavar="AAAA",
        help="employment year: employment is estimated on 31 December of that year and calibrated on URSSAF's "
             "figures of the same year (default: the latest year both URSSAF files cover)")
    annee_cog: int | None = setting(
        None, rule=_year("annee cog"), flags=("--annee-cog",), type=int, metavar="AAAA",
        help="COG year (default: the latest available)")
    calage: bool = setting(
        True, rule=_boolean, flags=("--sans-calage",), action="store_false",
        help="estimate employment from SIRENE's size bands alone, without URSSAF (every output then says « non "
             "calé »)")
    perimetre: str | None = setting(
        None, rule=_perimetre, flags=("--perimetre",), metavar="PERIMETRE",
        help="named ESS perimeter of the report, one of perimetres.csv (default: the one marked par_defaut)")
    perimetres_cube: list[str] | None = setting(
        None, rule=_perimetres_cube, flags=("--perimetres-cube",), nargs="+", metavar="PERIMETRE",
        help="the perimeters computed and published in the cube (default: every perimeter of perimetres.csv); "
             "must include --perimetre")
    secret_passe_detail: bool = setting(
        False, rule=_boolean, flags=("--secret-passe-detail",), action="store_true",
        help="publish past years' sector detail too (counts only, protected by the statistical secrecy); by "
             "default past years are public as territory × family totals")
    download: bool = setting(
        False, rule=_boolean, flags=("--download",), action="store_true",
        help="download the official files first (into --input, default data/raw), with retries")
    input_dir: str | None = setting(
        None, rule=_input_dir, flags=("--input",), metavar="DOSSIER",
        help="folder laid out as <source>/<millésime>/<files> (e.g. data/raw); default: the generated sample")
    sample_scale: float = setting(
        1.0, rule=_sample_scale, flags=("--sample-scale",), type=float, metavar="ECHELLE",
        help="size of the generated sample when no --input is given (1.0 ≈ a real département)")
    report: bool = setting(
        True, rule=_boolean, flags=("--no-report",), action="store_false", help="skip the charts and the PDF report")
    warehouse_dir: str = setting(
        rule=_warehouse_dir, flags=("--out",), metavar="DOSSIER", factory=lambda: str(paths.warehouse_dir()),
        help="warehouse folder (default: data/warehouse)")
    run_id: str = setting(
        rule=_run_id, flags=("--run-id",), metavar="NOM", factory=_now_id,
        help="name of the run folder (default: the UTC time)")
    force: bool = setting(
        False, rule=_boolean, flags=("--force",), action="store_true",
        help="publish even when a guard refuses the run (an empty or mostly rejected file, the département absent "
             "from the input, a large move since the last publication — thresholds in "
             "data/reference/seuils_publication.csv); the manifest, the Parquet metadata and the report say so")
    synthetic: bool = setting(
        False, user=False, help="decided from the input files by flows.inputs.resolve_inputs, whatever was asked")

    # --- construction --------------------------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, given: dict | None) -> "Settings":
        """Settings from a mapping (flow parameters, a manifest's parameters). Unknown keys are refused; None means
        the default."""
        given = dict(given or {})
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(given) - names)
        if unknown:
            raise UserError(f"unknown setting(s) {unknown}; the settings are {sorted(names)}")
        given = {k: v for k, v in given.items() if v is not None}
        codes = split_codes(given.get("departements"))
        if codes and "departement" not in given:  # several départements: these settings are the first one's
            given["departement"] = codes[0]
        return cls(**given)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "Settings":
        """Settings from the command line built by add_arguments (validated)."""
        return cls.from_dict({f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)}).validated()

    def validated(self) -> "Settings":
        """The same settings, checked and normalised field by field (UserError naming what to change)."""
        done: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            rule = f.metadata["rule"]
            done[f.name] = rule(value, done) if rule is not None else value
        return replace(self, **done)

    # --- what the settings say -----------------------------------------------------------------------------------

    def for_departement(self, departement: str) -> "Settings":
        """The same run for another of its départements."""
        return replace(self, departement=departement, departements=list(self.departements or [departement]))

    def every_departement(self) -> list["Settings"]:
        return [self.for_departement(d) for d in (self.departements or [self.departement])]

    @property
    def uses_sample(self) -> bool:
        """No --input and no download: the generated sample of the département."""
        return self.input_dir is None and not self.download

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

    def parameters(self, *, without: tuple[str, ...] = ()) -> dict:
        """The user's settings as flow parameters (JSON-able): what `ess run` passes to the flow and the deployments
        store. `without`: settings left to the flow's defaults (a schedule's run id)."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if f.metadata["user"] and f.name not in without}

    def step_params(self) -> dict:
        """What the steps receive (docs/CONTRIBUTING.md, "Steps"): every setting a step's result depends on."""
        return {name: getattr(self, name) for name in STEP_SETTINGS}


# The settings the steps read (their cache keys hold them; run_id only names folders).
STEP_SETTINGS = ("departement", "millesime", "annee_urssaf", "annee_cog", "calage", "perimetre", "perimetres_cube",
                 "secret_passe_detail", "reference_dir", "synthetic", "run_id")


def user_fields(*, without: tuple[str, ...] = ()) -> list:
    return [f for f in fields(Settings) if f.metadata["user"] and f.metadata["flags"] and f.name not in without]


def add_arguments(parser: argparse.ArgumentParser, *, without: tuple[str, ...] = (),
                  overrides: dict[str, dict] | None = None) -> None:
    """Add the settings' options to a verb's parser (its own defaults are Settings'; None = not given).
    `overrides`: per field, argparse keywords that replace the declared ones (e.g. one département for serve)."""
    for f in user_fields(without=without):
        kwargs = {"help": f.metadata["help"], **f.metadata["argparse"], **(overrides or {}).get(f.name, {})}
        if kwargs.get("action") not in ("store_true", "store_false"):
            kwargs.setdefault("default", None)
        parser.add_argument(*f.metadata["flags"], dest=f.name, **kwargs)


__all__ = ["Settings", "STEP_SETTINGS", "add_arguments", "check_departement", "check_millesime", "millesime_date",
           "split_codes",
           "known_departements", "latest_reference_cog", "reference_communes", "user_fields"]
