"""The run summary shown in the Prefect UI (a markdown artifact), rendered from the run's manifest — the same
provenance as manifest.json and as the Parquet key-value metadata of the published files (`metadonnees_parquet`).
User-facing text, hence in French. No Prefect import: render_markdown is a plain function."""

from __future__ import annotations

import re
from pathlib import Path

from transforms.publish import file_checksums


def artifact_key(departement: str, perimetre: str) -> str:
    """Prefect artifact keys allow lowercase letters, digits and dashes: one key per département and perimeter, so
    the UI shows the history of its runs."""
    return re.sub(r"[^a-z0-9-]", "-", f"ess-dep{departement}-{perimetre}".lower())


def _cell(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list]) -> list[str]:
    if not rows:
        return ["_(aucune)_", ""]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return lines + [""]


def _out_of_scope(stats: dict):
    """The rows out of scope, with those whose establishments were all rejected (ess/accounting.py) said apart."""
    without = stats.get("rows_without_kept_establishment")
    if not without:
        return stats.get("rows_out_of_scope")
    return f"{stats.get('rows_out_of_scope')} (dont {without} sans établissement retenu)"


def headline_rows(headline: dict) -> list[list]:
    """Indicator, value and the date it measures: establishments at the millésime date, employment and its shares
    on 31 December of the employment year (« non calé » when employment is not calibrated on URSSAF)."""
    rows = []
    calage = "" if headline.get("statut_effectifs", "cale") == "cale" else " (non calé)"
    for key, value in headline.items():
        if key.startswith("date_") or key == "statut_effectifs":
            continue
        if "effectif" in key and "employeurs" not in key:
            when = f"{headline.get('date_effectifs', '')}{calage}"
        else:
            when = headline.get("date_etablissements", "")
        rows.append([key, value, when])
    return rows


def render_markdown(manifest: dict, manifest_path: str | Path | None = None) -> str:
    params = manifest.get("parametres", {})
    lines = [f"# Observatoire de l'ESS — département {params.get('departement')}, run {manifest.get('run_id')}", ""]
    if manifest.get("synthetic"):
        lines += ["> **DONNÉES SYNTHÉTIQUES** — échantillon généré, ne décrit pas la réalité.", ""]
    lines += [f"Périmètre : **{params.get('perimetre')}**", ""]

    lines += ["## Sources et millésimes", ""]
    millesimes = manifest.get("millesimes", {})
    rows = []
    for source, snap in manifest.get("snapshots", {}).items():
        files = file_checksums(((snap or {}).get("manifest") or {}).get("files"))
        digests = ", ".join(f"{name} (sha256 {str(sha)[:12]}…)" for name, sha in sorted(files.items()))
        rows.append([source, millesimes.get(source if source != "territoires" else "cog", ""),
                     (snap or {}).get("dossier", ""), digests or "—"])
    lines += _table(["source", "millésime", "dossier", "fichiers"], rows)

    lines += ["## Lignes lues, retenues, rejetées", ""]
    rows, rejects = [], []
    for source, files in manifest.get("sources", {}).items():
        for f in files:
            rows.append([source, Path(f.get("file", "")).name, f.get("table"), f.get("rows_read"),
                         f.get("rows_staged"), f.get("rows_rejected_total"), _out_of_scope(f)])
            for reason, n in sorted((f.get("rows_rejected") or {}).items()):
                rejects.append([f.get("table"), reason, n])
    lines += _table(["source", "fichier", "table", "lues", "retenues", "rejetées", "hors champ"], rows)
    lines += ["### Rejets par motif", ""] + _table(["table", "motif", "lignes"], rejects)

    lines += ["## Chiffres clés", ""]
    headline = (manifest.get("checks") or {}).get("headline") or {}
    lines += _table(["indicateur", "valeur", "mesuré au"], headline_rows(headline))
    checks = manifest.get("checks") or {}
    moves = checks.get("variations") or []
    previous = checks.get("publication_precedente") or {}
    if previous or moves:
        lines += [f"### Variations depuis la publication précédente (run {previous.get('run_id')}, millésime "
                  f"{previous.get('millesime')}) et celles des autres périmètres du millésime", ""]
        lines += _table(["indicateur", "périmètre", "run", "avant", "après", "variation"],
                        [[m.get("indicateur"), m.get("perimetre") or "—", m.get("run_id") or previous.get("run_id"),
                          m.get("avant"), m.get("apres"), m.get("variation")] for m in moves])

    lines += ["## Publication", ""]
    publication = manifest.get("publication") or {}
    garde_fous = manifest.get("garde_fous") or {}
    if publication.get("forcee"):
        lines += ["> **PUBLICATION FORCÉE** (`--force`) malgré les garde-fous :", ""]
        lines += [f"> - {c.get('libelle')}" for c in garde_fous.get("constats", [])] + [""]
    lines += _table(["version de l'entrepôt", "publiée le", "garde-fous"],
                    [[publication.get("version", "—"), publication.get("publie_le", "—"),
                      "outrepassés (--force)" if publication.get("forcee") else "respectés"]])

    lines += ["## Étapes", ""]
    lines += _table(["étape", "clé de cache", "résultat"],
                    [[step, c.get("cle"), "réutilisé (entrées inchangées)" if c.get("reutilise") else "calculé"]
                     for step, c in (manifest.get("cache") or {}).items()])

    lines += ["## Sorties", ""]
    outputs = manifest.get("outputs") or {}
    rows = [[table, path] for table, path in (outputs.get("tables") or {}).items()]
    if outputs.get("catalog"):
        rows.append(["catalogue DuckDB", outputs["catalog"]])
    if outputs.get("manifeste_publication"):
        rows.append(["manifeste de publication", outputs["manifeste_publication"]])
    rapport = manifest.get("rapport") or {}
    if rapport.get("dossier"):
        rows.append(["rapport", rapport["dossier"]])
    if manifest_path:
        rows.append(["manifeste du run", str(manifest_path)])
    lines += _table(["sortie", "chemin"], rows)

    lines += ["## Métadonnées Parquet des fichiers publiés", ""]
    lines += _table(["clé", "valeur"], [[k, v] for k, v in sorted((manifest.get("metadonnees_parquet") or {}).items())])
    return "\n".join(lines)
