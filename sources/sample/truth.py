"""The ground truth: the TRUE headcount of every establishment, and true totals per commune and per ESS family.

The pipeline never reads these files; tests and benchmarks compare its estimates with them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from sources.sample.reference import Rules
from sources.sample.sirene_tables import SireneTables
from sources.sample.world import World, isin

FAMILIES = ("associations", "cooperatives", "mutuelles", "fondations", "autres_organismes",
            "societes_commerciales_ess")


def establishment_truth(world: World, tables: SireneTables, rules: Rules) -> pd.DataFrame:
    """One row per establishment (the duplicated file row counted once), in file order."""
    units, e = world.units, world.etabs
    keys = tables.truth_keys[tables.truth_keys["defaut"].fillna("") != "ligne_dupliquee"]
    rows = keys["row"].to_numpy()
    cj = e["cj"].to_numpy()[rows]
    naf = e["naf"].to_numpy()[rows].astype(str)
    flag = keys["ess_flag"].to_numpy()
    famille = pd.Series(cj).map(rules.famille_of_cj).to_numpy(dtype=object)
    famille[pd.isna(famille) & (flag == "O")] = "societes_commerciales_ess"
    excluded = _startswith(naf, rules.excluded_naf_prefixes)
    insee = isin(cj, list(rules.included_cj)) & ~excluded
    loi2014 = insee | ((flag == "O") & ~isin(cj, list(rules.included_cj)) & ~excluded)
    urssaf = (~_startswith(cj.astype(str), rules.urssaf_excluded_cj_prefixes)
              & ~isin(cj, list(rules.urssaf_excluded_cj))
              & ~_startswith(naf, rules.urssaf_excluded_naf_divisions))
    tranche = e["tranche"].to_numpy()[rows].astype(object)
    tranche[tranche == ""] = None
    annee = e["annee_tranche"].to_numpy()[rows].astype(float)
    annee[annee == 0] = np.nan
    return pd.DataFrame({
        "siret": keys["siret_vrai"].to_numpy(),
        "siret_fichier": keys["siret"].to_numpy(),
        "siren": keys["siret_vrai"].str[:9].to_numpy(),
        "defaut": keys["defaut"].to_numpy(),
        "localisation": e["location"].to_numpy()[rows],
        "code_commune": e["code_commune"].to_numpy()[rows],
        "code_commune_fichier": keys["code_commune_fichier"].to_numpy(),
        "statut_diffusion": keys["statut_diffusion"].to_numpy(),
        "actif": ~e["closed"].to_numpy()[rows],
        "categorie_juridique": cj,
        "activite": naf,
        "famille_ess": famille,
        "activite_exclue": excluded,
        "perimetre_insee": insee,
        "perimetre_loi2014": loi2014,
        "champ_urssaf": urssaf,
        "tranche_effectifs": tranche,
        "annee_effectifs": pd.array(annee, dtype="Int64"),
        "effectif_annee_tranche": e["effectif_annee_tranche"].to_numpy()[rows],
        "effectif_vrai": e["effectif_vrai"].to_numpy()[rows],
        "employeur": e["employeur_vrai"].to_numpy()[rows],
        "annee_creation": e["created"].to_numpy()[rows].astype("datetime64[Y]").astype(int) + 1970,
        "annee_fermeture": pd.array(np.where(e["closed"].to_numpy()[rows],
                                             e["closure"].to_numpy()[rows].astype("datetime64[Y]").astype(
                                                 "int64") + 1970, np.nan), dtype="Int64"),
        "ancre": units["anchor"].to_numpy()[e["unit"].to_numpy()[rows]],
    }).astype({"code_commune": "object"})


def _startswith(values: np.ndarray, prefixes: tuple[str, ...]) -> np.ndarray:
    out = np.zeros(values.size, bool)
    for p in prefixes:
        out |= np.char.startswith(values.astype(str), p)
    return out


def commune_totals(truth: pd.DataFrame, communes: pd.DataFrame) -> pd.DataFrame:
    """True totals per commune of the département (current COG), active establishments at the millésime."""
    a = truth[truth["actif"] & (truth["localisation"] == "departement")]
    emp = a["employeur"]
    g = pd.DataFrame({
        "code_commune": a["code_commune"],
        "nb_etablissements_actifs": 1,
        "nb_etablissements_employeurs": emp.astype(int),
        "effectif_vrai": a["effectif_vrai"],
        "nb_etablissements_employeurs_ess": (emp & a["perimetre_insee"]).astype(int),
        "effectif_vrai_ess": a["effectif_vrai"].where(a["perimetre_insee"], 0),
        "effectif_vrai_ess_loi2014": a["effectif_vrai"].where(a["perimetre_loi2014"], 0),
        "effectif_vrai_champ_urssaf": a["effectif_vrai"].where(a["champ_urssaf"], 0),
        "effectif_vrai_ess_champ_urssaf": a["effectif_vrai"].where(a["champ_urssaf"] & a["perimetre_insee"], 0),
    }).groupby("code_commune").sum()
    out = communes[["code_commune", "nom_commune"]].set_index("code_commune").join(g).fillna(0)
    for col in out.columns[1:]:
        out[col] = out[col].astype(np.int64)
    return out.reset_index()


def family_totals(truth: pd.DataFrame) -> pd.DataFrame:
    """True totals per ESS family at département level (active establishments located in the département).

    Families follow the legal form; establishments of an ESS legal form whose activity is excluded are counted
    apart ('exclus_activite'); 'ess_insee' and 'ess_loi2014' are the perimeters' totals, 'ensemble' everything.
    """
    a = truth[truth["actif"] & (truth["localisation"] == "departement")].copy()
    key = a["famille_ess"].fillna("hors_ess").to_numpy().astype(object)
    key[a["activite_exclue"].to_numpy() & isin(key, list(FAMILIES))] = "exclus_activite"
    # Legal forms of a family that the default perimeter leaves out (e.g. 9223 groupements d'employeurs).
    key[~a["perimetre_insee"].to_numpy() & isin(key, ["associations", "cooperatives", "mutuelles",
                                                          "fondations"])] = "hors_perimetre_par_defaut"
    a["famille"] = key
    groups = {f: a[a["famille"] == f]
              for f in (*FAMILIES, "hors_perimetre_par_defaut", "exclus_activite", "hors_ess")}
    groups["ess_insee"] = a[a["perimetre_insee"]]
    groups["ess_loi2014"] = a[a["perimetre_loi2014"]]
    groups["ensemble"] = a
    rows = []
    for name, g in groups.items():
        rows.append({
            "famille": name,
            "nb_etablissements_actifs": len(g),
            "nb_etablissements_employeurs": int(g["employeur"].sum()),
            "effectif_vrai": int(g["effectif_vrai"].sum()),
            "nb_etablissements_employeurs_champ_urssaf": int((g["employeur"] & g["champ_urssaf"]).sum()),
            "effectif_vrai_champ_urssaf": int(g["effectif_vrai"].where(g["champ_urssaf"], 0).sum()),
        })
    return pd.DataFrame(rows)


def truth_table(truth: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(truth, preserve_index=False)
