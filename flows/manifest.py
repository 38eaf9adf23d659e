"""What a run leaves behind: its manifest (parameters, snapshots, row accounting, checks), the summary `ess run`
prints in French, and the repair of a manifest a killed run did not write."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ess import paths
from ess.progress import entier
from ess.rounding import round_estimate
from ess.settings import Settings
from flows.inputs import synthetic_markers
from sources import registry
from transforms.warehouse import write_json_atomic


@dataclass
class RunResult:
    config: Settings
    manifest_path: Path
    manifest: dict

    def summary(self) -> str:
        """The end of `ess run`, in French: the headline figures rounded with the date each measures and its 90 %
        interval, what the checks verified, where the PDF and the catalog are, then what was read of each file, and
        how long it took (review ux4 C4: the figures first)."""
        m = self.manifest
        synthetic = " — DONNÉES SYNTHÉTIQUES (échantillon généré, ne décrit pas la réalité)" if m.get("synthetic") else ""
        lines = [f"Run {self.config.run_id} — département {self.config.departement}, périmètre "
                 f"{self.config.perimetre}{synthetic}"]
        years = m.get("millesimes") or {}
        if years:
            lines.append(f"  Millésimes : SIRENE {years.get('sirene')}, URSSAF {years.get('urssaf') or '—'}, "
                         f"COG {years.get('cog')}")
        lines += headline_lines((m.get("checks") or {}).get("headline", {}))
        lines += checks_lines(m.get("checks") or {})
        publication = m.get("publication") or {}
        if publication.get("forcee"):
            constats = (m.get("garde_fous") or {}).get("constats") or []
            lines.append("  PUBLIÉ AVEC --force malgré : " + "; ".join(c["libelle"] for c in constats))
        report = m.get("rapport") or {}
        # the stable path (the warehouse's entry point, the current version's report) is the one to keep; the
        # version's own folder stays as long as the version is kept (transforms/warehouse.py)
        stable = (report.get("points_d_entree") or {}).get("fichiers") or report.get("fichiers") or []
        pdf = next((f for f in stable if str(f).endswith(".pdf")), None)
        if pdf:
            lines.append(f"  Rapport PDF : {pdf}")
        outputs = m.get("outputs") or {}
        if outputs:
            # the warehouse's catalog, which follows the current version (the manifest records this version's)
            warehouse = outputs.get("warehouse")
            lines.append(f"  Catalogue DuckDB : {Path(warehouse) / 'ess.duckdb'} (depuis son dossier : "
                         f"cd {warehouse} && duckdb ess.duckdb ; d'ailleurs : SET file_search_path = "
                         f"'{warehouse}' avant la première requête)")
            lines.append(f"  Entrepôt : {outputs.get('warehouse')} (version {outputs.get('version')})")
        lines.append(f"  Manifeste : {self.manifest_path}")
        reading = []
        for source, files in (m.get("sources") or {}).items():
            # a file feeds several tables (v_commune: communes and their old codes): the table tells the lines apart
            rejects = (m.get("tables") or {}).get(f"staging_rejets_{source}")
            for f in files:
                table = f" → {f['table']}" if f.get("table") else ""
                where = f" (lignes rejetées et leur motif : {rejects})" if f["rows_rejected_total"] and rejects else ""
                reading.append(f"    {source} {Path(f['file']).name}{table} : {entier(f['rows_read'])} lignes, "
                               f"{entier(f['rows_staged'])} retenues, {entier(f['rows_rejected_total'])} rejetées, "
                               f"{hors_champ(f)}{where}")
        if reading:
            lines += ["  Fichiers lus :", *reading]
        durees = m.get("durees_etapes") or {}
        if durees:
            from ess.progress import duration

            lines.append(f"  Durée des étapes : {duration(sum(durees.values()))}")
        return "\n".join(lines)


def checks_lines(checks: dict) -> list[str]:
    """What the check step verified, in one line: a published run passed them all (a failure stops the run), and
    the researcher reads here how much was verified."""
    expectations = checks.get("expectations") or {}
    audit = checks.get("audit_secret") or {}
    if not expectations and not audit:
        return []
    tested = sum(t.get("expectations", 0) for t in expectations.values())
    failed = sum(len(t.get("echecs") or []) for t in expectations.values())  # the failures themselves
    sensitive = sum(a.get("n_sensibles", 0) for a in audit.values())
    exposed = sum(a.get("n_sensibles_publiees", 0) + a.get("n_recalculables_ou_encadrees", 0)
                  + a.get("n_non_auditees", 0) for a in audit.values())
    given_away = sum(a.get("n_secondaires_recalculables", 0) + a.get("n_secondaires_non_decidees", 0)
                     for a in audit.values())
    holding = sum(a.get("n_secondaires_recalculables_protegeant", 0) for a in audit.values())
    years = sorted({key.split("/")[0] for key in audit})
    span = f"{years[0]}–{years[-1]}" if len(years) > 1 else "".join(years)
    return [f"  Contrôles : {entier(tested)} attentes sur {len(expectations)} tables, {entier(failed)} en échec ; "
            f"secret audité sur {span} : {entier(sensitive)} cellules sensibles, {entier(exposed)} publiée, "
            f"recalculable ou encadrée ; {entier(given_away)} cellule masquée recalculable"
            + (f" (et {entier(holding)} qui le sont à l'emploi près mais protègent une cellule sensible)"
               if holding else "")]


def hors_champ(stats: dict) -> str:
    """The rows out of scope, and among them those whose establishments were all rejected: a legal unit of the
    département whose establishments were rejected is not of another département (ess/accounting.py)."""
    text = f"{entier(stats['rows_out_of_scope'])} hors champ"
    without = stats.get("rows_without_kept_establishment")
    return f"{text}, dont {entier(without)} sans établissement retenu" if without else text


def arrondi(value: float | None) -> str:
    """An employment figure rounded to what an estimate can claim (ess.rounding, as in the PDF report)."""
    if value is None:
        return "n.d."
    return entier(round_estimate(value))


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
                     + (f" (dont {entier(employeurs)} employeurs{band_years(h)})" if employeurs is not None else ""))
    if h.get("effectif_ess_central") is not None:
        calage = ("calé sur l'URSSAF, emploi relevant de la MSA estimé en plus"
                  if h.get("statut_effectifs", "cale") == "cale" else "non calé, ordre de grandeur")
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
    known = {"date_etablissements", "nb_etablissements_ess", "nb_etablissements_employeurs_ess",
             "annees_tranches_employeurs_ess", "date_effectifs",
             "statut_effectifs", "effectif_ess_central", "effectif_ess_ic90_bas", "effectif_ess_ic90_haut",
             *(f"part_ess_effectif_{k}_{b}" for k in ("total", "prive") for b in ("central", "ic90_bas", "ic90_haut"))}
    lines += [f"  {key} : {value}" for key, value in h.items() if key not in known]
    return lines


def band_years(headline: dict) -> str:
    """« selon leur tranche SIRENE de 2018 à 2023 »: an employer is one whose latest band shows employees, a band
    older than the millésime date (METHOD.md § 5)."""
    years = (headline.get("annees_tranches_employeurs_ess") or "").split("-")
    if len(years) != 2:
        return " selon leur tranche SIRENE"
    first, last = years
    return f" selon leur tranche SIRENE de {first}" + ("" if first == last else f" à {last}")


def run_manifest(config: Settings, inputs: dict, steps, checks: dict) -> dict:
    """Provenance of a run: parameters, the snapshots and their checksums, row accounting, checks, and why the
    run is synthetic when it is."""
    from sources.download import read_manifest

    snapshots = {}
    for source, folder in inputs.items():
        snapshots[source] = {"dossier": str(folder) if folder else "data/reference (COG committed)",
                             "manifest": read_manifest(folder) if folder else None}
    from ess.version import pipeline_version

    return {
        "run_id": config.run_id,
        "version_pipeline": pipeline_version(),
        "parametres": config.to_dict(),
        "synthetic": config.synthetic,
        "marqueurs_synthetiques": synthetic_markers(config.input_root(), inputs) if config.synthetic else [],
        "millesimes": {"sirene": config.millesime, "urssaf": config.annee_urssaf, "cog": config.annee_cog},
        "snapshots": snapshots,
        "sources": {k: v for k, v in steps.stats.items() if k in registry.SOURCES},
        "steps": {k: v for k, v in steps.stats.items() if k not in registry.SOURCES},
        "checks": checks,
        "tables": steps.tables,
    }


def restore_run_manifests(config: Settings) -> list[Path]:
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
