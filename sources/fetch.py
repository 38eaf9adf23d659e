"""The official portals: download a source's files into <root>/<source>/<millésime>/ with a manifest.json per
snapshot. Each source module's `fetch` calls its function here; `sources.registry.fetch` is `ess fetch`.

- SIRENE: the four stock files from their data.gouv.fr stable links (Parquet by default, zipped CSV on request).
  The millésime comes from metadata (the data.gouv API), never from French month names in titles.
- URSSAF: CSV exports of the two datasets of open.urssaf.fr, restricted to the département.
- Territories: `ess fetch` downloads nothing (the COG's addresses move every year): the pipeline uses the
  committed reference data (data/reference/) or files laid out by hand; `fetch_territoires` only downloads COG
  files when given their addresses.

Hosts can be pointed elsewhere (tests use 127.0.0.1) with ESS_DATA_GOUV_BASE_URL, ESS_URSSAF_BASE_URL and
ESS_INSEE_COG_BASE_URL, or the `base_url` parameter of each function.
"""

from __future__ import annotations

import csv
import http.client
import json
import logging
import os
import re
import shutil
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path

from ess.errors import InputFileError, UserError
from ess.settings import check_millesime
from sources.base import Source, normalise_departement
from sources import download as transfer
from sources.download import (USER_AGENT, NetworkError, TransientFailure, download, notice, read_manifest,
                              retry_notice, unreachable_advice, unreachable_or_transient, write_manifest)
from sources.sirene_layouts import LAYOUTS
from sources.sirene_layouts import SOURCE as SIRENE

log = logging.getLogger(__name__)

DATA_GOUV_BASE_ENV = "ESS_DATA_GOUV_BASE_URL"
URSSAF_BASE_ENV = "ESS_URSSAF_BASE_URL"
INSEE_COG_BASE_ENV = "ESS_INSEE_COG_BASE_URL"
DEFAULT_DATA_GOUV_BASE = "https://www.data.gouv.fr"  # serves both /api/1/ and the stable links /datasets/r/<id>
DEFAULT_URSSAF_BASE = "https://open.urssaf.fr"  # Opendatasoft portal, Explore API v2.1
# INSEE's COG files move to a new address every year and none could be verified from here: no default.
# Pass the files' addresses to fetch_territoires (or set ESS_INSEE_COG_BASE_URL and give relative paths).
DEFAULT_INSEE_COG_BASE: str | None = None

SIRENE_FORMATS = ("parquet", "csv")
SIRENE_STOCKS = tuple(LAYOUTS)  # unites_legales, etablissements and their histories
PARIS = "Europe/Paris"

MILLESIME_RULE = (
    "millésime = the month before the publication date of the stock files (data.gouv resource last_modified, "
    "Paris time): INSEE publishes on days 1–3 the snapshot of the last day of the previous month"
)


def _say(message: str) -> None:
    """A line for the person waiting (stdout is reserved for the list of files): stderr for `ess fetch`, the
    progress step for `ess run` (sources.download.notice)."""
    notice(message)


def _base(base_url: str | None, env: str, default: str | None) -> str:
    base = base_url or os.environ.get(env) or default
    if not base:
        raise UserError(f"no address configured: set {env} or pass base_url")
    return base.rstrip("/")


def _address_hint(base_url: str | None, env: str) -> str:
    """Where the address of a portal came from, for a message about a portal that does not answer."""
    if base_url:
        return f"address given: {base_url}"
    if os.environ.get(env):
        return f"it comes from {env}={os.environ[env]}: check that variable, or unset it to use the official portal"
    return f"the official portal; set {env} to use a mirror"


def _get_json(url: str, *, what: str, what_fr: str, hint: str, attempts: int = 4, timeout: float = 60,
              backoff: float | None = None, address_hint: str | None = None) -> dict:
    """GET a JSON document, retrying network failures (`backoff` seconds apart, doubling: default
    sources.download.BACKOFF_SECONDS), each one a notice naming `what_fr` (the console is French); 4xx is a
    UserError naming `what` and what to check, network failures on every attempt a NetworkError."""
    backoff = transfer.BACKOFF_SECONDS if backoff is None else backoff
    started = time.monotonic()
    for attempt in range(1, attempts + 1):
        try:
            req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": "application/json"})
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return json.loads(resp.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            if exc.code < 500 and exc.code not in (408, 429):
                raise UserError(f"{what}: {url} answered HTTP {exc.code} {exc.reason}; check {hint}") from None
            failure = TransientFailure(f"{url} answered HTTP {exc.code} {exc.reason}",
                                 problem_fr=f"le serveur répond HTTP {exc.code} {exc.reason}")
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            failure = unreachable_or_transient(url, exc)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise UserError(f"{what}: {url} did not return JSON ({exc}); check {hint}") from None
        wait = None if attempt == attempts else backoff * 2 ** (attempt - 1)
        log.warning("%s: %s (attempt %d/%d)", what, failure, attempt, attempts)
        notice(retry_notice(what_fr, attempt, attempts, failure.problem_fr, wait))
        if wait is None:
            raise NetworkError(
                f"{what}: cannot read {url}", failure.problem, attempts, unreachable=failure.unreachable,
                problem_fr=failure.problem_fr, seconds=time.monotonic() - started,
                advice=unreachable_advice(address_hint) if failure.unreachable
                else "Check the network and run the same command again later.")
        time.sleep(wait)
    raise AssertionError("unreachable")


# --- SIRENE ------------------------------------------------------------------------------------------------------


def publication_date(resource: Mapping) -> datetime:
    """When a data.gouv resource's current file was published (UTC). data.gouv dates may come without offset: UTC."""
    for key in ("last_modified", "published", "created_at"):
        value = resource.get(key)
        if value:
            dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
            return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)
    raise UserError(f"data.gouv resource {resource.get('id')} has no publication date (last_modified)")


def millesime_from_publication(published: datetime) -> str:
    """The month before the publication date, in Paris time: published 2026-05-02 → '2026-04'."""
    local = _to_paris(published)
    last_day_before = local.date().replace(day=1) - timedelta(days=1)
    return f"{last_day_before:%Y-%m}"


def _to_paris(dt: datetime) -> datetime:
    try:
        from zoneinfo import ZoneInfo

        return dt.astimezone(ZoneInfo(PARIS))
    except Exception:  # no time zone database: UTC is at most 2 hours off
        return dt.astimezone(timezone.utc)


def _checksums(resource: Mapping) -> dict[str, str]:
    """data.gouv's checksum {type, value} as keyword arguments of download()."""
    checksum = resource.get("checksum") or {}
    kind, value = str(checksum.get("type") or "").lower(), checksum.get("value")
    names = {"sha1": "expected_sha1", "sha256": "expected_sha256", "sha2": "expected_sha256", "md5": "expected_md5"}
    if not value:
        return {}
    if kind == "sha2" and len(str(value)) != 64:  # udata's "sha2" is a family: only a 256-bit value is usable
        kind = "sha2-" + str(len(str(value)) * 4)
    if kind not in names:
        log.warning("resource %s: checksum type %r not supported, only the size is verified", resource.get("id"), kind)
        return {}
    return {names[kind]: str(value)}


def _sirene_resources(base: str, address_hint: str) -> dict[str, dict]:
    url = f"{base}/api/1/datasets/{SIRENE.dataset_id}/"
    meta = _get_json(url, what="SIRENE metadata", what_fr="métadonnées SIRENE (data.gouv.fr)", hint=SIRENE.homepage,
                     address_hint=address_hint)
    return {r["id"]: r for r in meta.get("resources", []) if isinstance(r, dict) and "id" in r}


def _sirene_resource(base: str, resources: dict[str, dict], resource_id: str, filename: str,
                     address_hint: str) -> dict:
    if resource_id in resources:
        return resources[resource_id]
    # The dataset payload may not list every resource: ask for this one directly before giving up.
    url = f"{base}/api/1/datasets/{SIRENE.dataset_id}/resources/{resource_id}/"
    try:
        return _get_json(url, what=f"SIRENE resource {filename}", what_fr=f"ressource SIRENE {filename}",
                         hint=SIRENE.homepage, address_hint=address_hint)
    except NetworkError:
        raise
    except UserError:
        raise UserError(
            f"{filename}: resource id {resource_id} is not in the SIRENE dataset {SIRENE.dataset_id} any more: "
            f"the resource id may have changed; check {SIRENE.homepage} and update sources/sirene_layouts.py"
        ) from None


def fetch_sirene(
    root: Path,
    *,
    millesime: str | None = None,
    formats: Iterable[str] | None = None,
    stocks: Iterable[str] = SIRENE_STOCKS,
    base_url: str | None = None,
    progress: bool = True,
) -> list[Path]:
    """Download the latest SIRENE stocks into <root>/sirene/<millésime>/ and record them in its manifest."""
    fmts = list(dict.fromkeys(formats or ["parquet"]))
    bad = [f for f in fmts if f not in SIRENE_FORMATS]
    if bad:
        raise UserError(f"unknown SIRENE format(s) {bad}: choose among {list(SIRENE_FORMATS)}")
    millesime = check_millesime(millesime)
    base = _base(base_url, DATA_GOUV_BASE_ENV, DEFAULT_DATA_GOUV_BASE)
    address = _address_hint(base_url, DATA_GOUV_BASE_ENV)
    resources = _sirene_resources(base, address)

    wanted = []
    for stock in stocks:
        for fmt in fmts:
            sf = SIRENE.file(f"{stock}_{fmt}")
            res = _sirene_resource(base, resources, sf.resource_id, sf.filename, address)
            published = publication_date(res)
            wanted.append((stock, fmt, sf, res, published, millesime_from_publication(published)))

    current = _consistent_millesime(wanted)
    if millesime is not None and millesime != current:
        local = SIRENE.snapshot_dir(root, millesime)
        also = (f" A snapshot of {millesime} already exists in {local}: use it with `ess run --input {root}`."
                if (local / "manifest.json").exists() else "")
        raise UserError(
            f"SIRENE millésime {millesime} was requested, but the stable data.gouv links only serve the latest "
            f"stock, which is {current} (published {_to_paris(wanted[0][4]):%Y-%m-%d}). Older stocks cannot be "
            f"downloaded from these addresses: omit --millesime to fetch {current}.{also}"
        )
    for *_, published, _m in wanted:
        day = _to_paris(published).day
        if day > 3:
            log.warning("a SIRENE file was published on day %d, outside the usual days 1–3; taken as the stock "
                        "of %s — check %s", day, current, SIRENE.homepage)

    snap = SIRENE.snapshot_dir(root, current)
    previous = {e.get("name"): e for e in read_manifest(snap).get("files", [])}
    paths = []
    for stock, fmt, sf, res, published, _m in wanted:
        url = f"{base}/datasets/r/{sf.resource_id}"
        size = res.get("filesize")
        _say(f"sirene {current} : {sf.filename}" + (f" ({_human(int(size))})" if size else ""))
        old = previous.get(sf.filename)
        # Without a published checksum, the sha256 we recorded proves a file already here is this very version.
        same_version = old is not None and old.get("published_at") == published.isoformat()
        result = download(
            url,
            snap / sf.filename,
            expected_size=int(size) if size else None,
            progress=progress,
            hint=f"{SIRENE.homepage} and update sources/sirene_layouts.py",
            address_hint=address,
            known_sha256=old.get("sha256") if same_version else None,
            **_checksums(res),
        )
        if result.skipped:
            _say("  déjà complet et vérifié : pas téléchargé à nouveau")
        entry = result.manifest_entry()
        if result.skipped and old and old.get("sha256") == result.sha256:
            entry.update(retrieved_at=old.get("retrieved_at", entry["retrieved_at"]),
                         final_url=old.get("final_url", entry["final_url"]))
        entry.update(
            stock=stock,
            format=fmt,
            resource_id=sf.resource_id,
            title=res.get("title"),
            published_at=published.isoformat(),
            checksum_source=res.get("checksum"),
            filesize_source=size,
        )
        write_manifest(snap, [entry], source=SIRENE.describe(), millesime=current,
                       extra={"regle_millesime": MILLESIME_RULE})
        paths.append(result.path)
    return paths


def _human(size: int) -> str:
    """« 1,95 Go », « 38,2 Mo » (the console is French)."""
    text = f"{size / 1e9:.2f} Go" if size >= 1e9 else f"{size / 1e6:.1f} Mo"
    return text.replace(".", ",")


def _consistent_millesime(wanted) -> str:
    months = {m for *_, m in wanted}
    if len(months) == 1:
        return months.pop()
    detail = ", ".join(f"{sf.filename} published {p:%Y-%m-%d}" for _s, _f, sf, _r, p, _m in wanted)
    raise UserError(
        "the SIRENE stock files on data.gouv do not belong to the same month yet (publication in progress?): "
        f"{detail}. Retry in a day or two, or fetch one format only with --format."
    )


# --- URSSAF ------------------------------------------------------------------------------------------------------

URSSAF_ESS = "nombre-etab-effectifs-salaries-et-masse-salariale-ess-departements"
URSSAF_COMMUNE_APE = "etablissements-et-effectifs-salaries-au-niveau-commune-x-ape-last"
URSSAF_DATASETS = (URSSAF_ESS, URSSAF_COMMUNE_APE)


def urssaf_export_url(base: str, dataset: str, departements: Iterable[str]) -> str:
    where = " OR ".join(f'code_departement="{normalise_departement(d)}"' for d in sorted(departements))
    query = urllib.parse.urlencode({"where": where, "delimiter": ";", "use_labels": "false"})
    return f"{base}/api/explore/v2.1/catalog/datasets/{dataset}/exports/csv?{query}"


def fetch_urssaf(
    root: Path,
    *,
    departement: str,
    source: Source,
    base_url: str | None = None,
    progress: bool = True,
) -> list[Path]:
    """Export both URSSAF datasets for the département into <root>/urssaf/<year>/<dataset>.csv.

    The year is the latest one both files cover (max `annee` of the ESS file, last `effectifs_salaries_YYYY`
    column of the commune × APE file). Départements already present in the latest snapshot stay in the filter,
    so one snapshot serves every département fetched into the same root.
    """
    base = _base(base_url, URSSAF_BASE_ENV, DEFAULT_URSSAF_BASE)
    address = _address_hint(base_url, URSSAF_BASE_ENV)
    src_root = Path(root) / source.name
    latest = _latest_snapshot(src_root)
    previous = read_manifest(latest) if latest else {}
    departements = sorted({normalise_departement(departement), *previous.get("departements", [])})

    modified = {d: _urssaf_modified(base, d, address) for d in URSSAF_DATASETS}
    if latest and _urssaf_unchanged(latest, previous, base, departements, modified):
        _say(f"urssaf {latest.name} : inchangé depuis le dernier téléchargement, pas téléchargé à nouveau")
        return [latest / f"{d}.csv" for d in URSSAF_DATASETS]

    src_root.mkdir(parents=True, exist_ok=True)
    incoming = Path(tempfile.mkdtemp(prefix=".incoming-", dir=src_root))
    try:
        results, years, entries = {}, {}, {}
        for dataset in URSSAF_DATASETS:
            url = urssaf_export_url(base, dataset, departements)
            _say(f"urssaf : {dataset}.csv (départements {', '.join(departements)})")
            res = download(url, incoming / f"{dataset}.csv", progress=progress,
                           hint=f"https://open.urssaf.fr/explore/dataset/{dataset}/", address_hint=address)
            rows, years[dataset] = _urssaf_rows_and_year(res.path, dataset, departements)
            results[dataset] = res
            entries[dataset] = {**res.manifest_entry(), "dataset": dataset, "filtre": urllib.parse.unquote(
                url.split("?", 1)[1]), "departements": departements, "lignes": rows,
                "annee_max": years[dataset], "source_modified": modified[dataset]}
        year = str(min(years.values()))
        if len(set(years.values())) > 1:
            log.warning("URSSAF files end in different years %s: snapshot filed under the common year %s",
                        years, year)
        snap = source.snapshot_dir(root, year)
        snap.mkdir(parents=True, exist_ok=True)
        paths = []
        for dataset, res in results.items():
            dest = snap / res.path.name
            os.replace(res.path, dest)
            paths.append(dest)
        write_manifest(snap, entries.values(), source=source.describe(), millesime=year,
                       extra={"departements": departements,
                              "regle_millesime": "latest year covered by both files (max annee of the ESS file, "
                                                 "last effectifs_salaries_YYYY column of the commune × APE file)"})
        return paths
    finally:
        shutil.rmtree(incoming, ignore_errors=True)


def _latest_snapshot(src_root: Path) -> Path | None:
    snaps = sorted(p for p in src_root.glob("[0-9][0-9][0-9][0-9]") if (p / "manifest.json").exists())
    return snaps[-1] if snaps else None


def _urssaf_modified(base: str, dataset: str, address_hint: str) -> str | None:
    """When the portal last processed the dataset (Explore API metadata); None when unknown."""
    url = f"{base}/api/explore/v2.1/catalog/datasets/{dataset}"
    try:
        meta = _get_json(url, what=f"URSSAF metadata of {dataset}", what_fr=f"métadonnées URSSAF : {dataset}",
                         hint=url, attempts=2, address_hint=address_hint)
    except NetworkError as exc:
        if exc.unreachable:  # the exports are on the same host: no use trying them
            raise
        log.warning("%s", exc)
        return None
    except UserError as exc:
        log.warning("%s", exc)
        return None
    default = (meta.get("metas") or {}).get("default") or {}
    return default.get("data_processed") or default.get("modified")


def _urssaf_unchanged(snap: Path, manifest: dict, base: str, departements, modified) -> bool:
    """Same data on the portal, same filter, files intact: nothing to download."""
    by_name = {e.get("name"): e for e in manifest.get("files", [])}
    for dataset in URSSAF_DATASETS:
        entry = by_name.get(f"{dataset}.csv")
        path = snap / f"{dataset}.csv"
        if (entry is None or not modified.get(dataset) or entry.get("source_modified") != modified[dataset]
                or entry.get("url") != urssaf_export_url(base, dataset, departements)
                or not path.exists() or path.stat().st_size != entry.get("size")):
            return False
    return True


def _urssaf_rows_and_year(path: Path, dataset: str, departements) -> tuple[int, int]:
    """Row count and latest year of an export; an empty export or an unknown header is a clear error."""
    with open(path, encoding="utf-8-sig", newline="") as fh:  # Opendatasoft exports start with a BOM
        reader = csv.reader(fh, delimiter=";")
        header = next(reader, None) or []
        if dataset == URSSAF_ESS:
            if "annee" not in header:
                raise InputFileError(f"{path.name}: no `annee` column in the header {header[:6]}…; "
                                     "the export format may have changed")
            i = header.index("annee")
            rows, year = 0, None
            for row in reader:
                rows += 1
                if len(row) > i and row[i].strip().isdigit():
                    year = max(year or 0, int(row[i]))
        else:
            years = [int(m.group(1)) for c in header if (m := re.fullmatch(r"effectifs_salaries_(\d{4})", c))]
            if not years:
                raise InputFileError(f"{path.name}: no `effectifs_salaries_YYYY` column in the header; "
                                     "the export format may have changed")
            year = max(years)
            rows = sum(1 for _ in reader)
    if rows == 0 or year is None:
        raise UserError(f"the URSSAF export {dataset} holds no row for département(s) {', '.join(departements)}: "
                        "check the code, or the dataset page on open.urssaf.fr")
    return rows, year


# --- territories -------------------------------------------------------------------------------------------------


def fetch_territoires(
    root: Path,
    *,
    files: Mapping[str, str] | None,
    source: Source,
    annee: str | None = None,
    base_url: str | None = None,
    progress: bool = True,
) -> list[Path]:
    """Download COG files into <root>/territoires/<annee>/ when their addresses are given.

    `files` maps the file name to save under to its address, absolute or relative to `base_url`
    (or ESS_INSEE_COG_BASE_URL). Without files nothing is downloaded (`ess fetch` gives none:
    sources.territories.fetch says where to lay out the files by hand).
    """
    if not files:
        return []
    if not annee or not re.fullmatch(r"\d{4}", str(annee)):
        raise UserError(f"territoires: the COG year must be given as YYYY (got {annee!r})")
    snap = source.snapshot_dir(root, str(annee))
    paths, entries = [], []
    for name, address in files.items():
        if "://" not in address:
            address = f"{_base(base_url, INSEE_COG_BASE_ENV, DEFAULT_INSEE_COG_BASE)}/{address.lstrip('/')}"
        _say(f"territoires {annee} : {name}")
        res = download(address, snap / name, progress=progress, hint="the INSEE COG page of that year")
        entries.append(res.manifest_entry())
        paths.append(res.path)
    write_manifest(snap, entries, source=source.describe(), millesime=str(annee))
    return paths


__all__ = [
    "fetch_sirene",
    "fetch_urssaf",
    "fetch_territoires",
    "millesime_from_publication",
    "publication_date",
    "urssaf_export_url",
]
