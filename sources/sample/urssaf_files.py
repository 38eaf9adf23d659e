"""The two URSSAF open-data exports, consistent with the ground truth, in the portal's CSV export format.

Values for the URSSAF year equal the truth of the URSSAF field (private employers of the régime général outside
agriculture) up to a small noise; earlier years are the same establishments scaled back along a plausible growth
path (and limited to the years each establishment existed).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sources.sample import labels as lb
from sources.sample import model as m
from sources.sample.reference import Reference
from sources.urssaf import ESS_DEPARTEMENT_COLUMNS, SOURCE

# The official file names and headers come from the source module: the sample writes what the loader reads.
ESS_DEPARTEMENT_FILE = SOURCE.file("ess_departement").filename
COMMUNE_APE_FILE = SOURCE.file("commune_ape").filename

# Labels of the ESS table as the portal writes them (best knowledge, not verified against a download: a public
# reuse of the same portal filters champ_ess == "OUI"; data/reference/urssaf_familles.csv maps variants too).
CHAMP_ESS_OUI = "OUI"
CHAMP_ESS_NON = "NON"
FAMILLE_LABELS = {
    "associations": "Associations",
    "cooperatives": "Coopératives",
    "mutuelles": "Mutuelles",
    "fondations": "Fondations",
}
FAMILLE_HORS_ESS = "Hors ESS"

# Yearly growth of employment before the band year (after it, headcounts are held at their true value).
GROWTH = {"associations": 0.012, "cooperatives": 0.007, "mutuelles": 0.004, "fondations": 0.02, "hors_ess": 0.011}
# Mean yearly gross wage per employee in the URSSAF year (euros), and its nominal growth.
WAGE = {"associations": 27_600, "cooperatives": 41_200, "mutuelles": 42_500, "fondations": 33_900,
        "hors_ess": 38_700}
WAGE_GROWTH = 0.021


def _index(years: np.ndarray, growth: float) -> np.ndarray:
    """Employment index (1 from the band year on); a dip in 2009 and in 2020 as in the real series."""
    idx = (1 + growth) ** np.minimum(years - m.BAND_YEAR, 0).astype(float)
    idx = np.where(years == 2009, idx * 0.975, idx)
    idx = np.where(years == 2020, idx * 0.97, idx)
    return idx


def write_ess_departement(path: Path, truth: pd.DataFrame, ref: Reference, departement: str,
                          rng: np.random.Generator) -> int:
    a = truth[truth["actif"] & (truth["localisation"] == "departement") & truth["champ_urssaf"]]
    fam = np.where(a["perimetre_insee"], a["famille_ess"].fillna("hors_ess"), "hors_ess")
    base = pd.DataFrame({"famille": fam, "emp": a["employeur"].astype(int), "eff": a["effectif_vrai"]})
    base = base.groupby("famille").sum()
    years = np.arange(m.URSSAF_FIRST_YEAR_ESS, m.URSSAF_YEAR + 1)
    rows = []

    def add(dep: str, factor: float) -> None:
        region = _region_of(ref, dep)
        former_code, former_name = lb.FORMER_REGION_OF.get(dep, ("", ""))
        for famille in (*FAMILLE_LABELS, "hors_ess"):
            emp = base["emp"].get(famille, 0) * factor
            eff = base["eff"].get(famille, 0) * factor
            idx = _index(years, GROWTH[famille])
            noise_e = 1 + rng.normal(0, 0.01, years.size)
            noise_n = 1 + rng.normal(0, 0.01, years.size)
            wage = WAGE[famille] * (1 + WAGE_GROWTH) ** (years - m.URSSAF_YEAR).astype(float)
            eff_y = np.round(eff * idx * noise_e, 1)
            n_y = np.round(emp * idx ** 0.6 * noise_n * 4) / 4  # mean of four quarterly counts
            for y, n, e_, w in zip(years, n_y, eff_y, wage):
                rows.append({
                    "region": lb.REGIONS.get(region, ""), "ancienne_region": former_name,
                    "departement": _dep_name(ref, dep),
                    "champ_ess": CHAMP_ESS_NON if famille == "hors_ess" else CHAMP_ESS_OUI,
                    "famille_ess": FAMILLE_HORS_ESS if famille == "hors_ess" else FAMILLE_LABELS[famille],
                    "annee": int(y), "code_region": region, "code_ancienne_region": former_code,
                    "code_departement": dep, "nombre_d_etablissements": n, "effectifs_salaries_moyens": e_,
                    "masse_salariale": int(round(e_ * w)),
                })

    add(departement, 1.0)
    # A few other départements, so that a loader has to filter (sizes scaled by population).
    own_pop = float(ref.departement["population"].sum())
    pops = ref.communes.groupby("code_departement")["population"].sum()
    others = [d for d in _neighbours(ref, departement) if d != departement][:3]
    for d in others:
        add(d, max(0.05, float(pops.get(d, own_pop)) / own_pop) * float(rng.uniform(0.9, 1.1)))
    df = pd.DataFrame(rows, columns=list(ESS_DEPARTEMENT_COLUMNS))
    df = df.sort_values(["code_departement", "annee", "champ_ess", "famille_ess"], kind="stable")
    _write(df, path)
    return len(df)


def write_commune_ape(path: Path, truth: pd.DataFrame, ref: Reference, departement: str,
                      rng: np.random.Generator) -> int:
    """Employers by commune × APE, wide by year, from every establishment of the URSSAF field that ever had
    employees in the file (including the rows of other départements)."""
    t = truth[truth["champ_urssaf"] & truth["code_commune"].notna() & (truth["effectif_annee_tranche"] > 0)]
    t = t[t["defaut"].isna() | (t["defaut"] != "ligne_dupliquee")]
    years = np.arange(m.COMMUNE_APE_FIRST_YEAR, m.URSSAF_YEAR + 1)
    idx = _index(years, GROWTH["hors_ess"])
    created = t["annee_creation"].to_numpy()
    closed = t["annee_fermeture"].to_numpy(dtype=float, na_value=np.inf)
    h = t["effectif_annee_tranche"].to_numpy().astype(float)
    cell = t["code_commune"].astype(str) + "|" + t["activite"].str.replace(".", "", regex=False)
    codes, inv = np.unique(cell.to_numpy(), return_inverse=True)
    n_cells = codes.size
    counts, effs = {}, {}
    for k, y in enumerate(years):
        alive = (created <= y) & (closed > y)
        counts[y] = np.bincount(inv, weights=alive, minlength=n_cells)
        raw = np.bincount(inv, weights=alive * h * idx[k], minlength=n_cells)
        effs[y] = np.round(raw * (1 + rng.normal(0, 0.03, n_cells)))
    commune = np.array([c.split("|")[0] for c in codes], dtype=object)
    ape = np.array([c.split("|")[1] for c in codes], dtype=object)
    out = _commune_labels(ref, commune)
    naf = ape.astype(str)
    label = _naf_labels(ref, [f"{x[:2]}.{x[2:]}" for x in naf])
    division = np.array([int(x[:2]) if x[:2].isdigit() else 0 for x in naf])
    a38 = np.array([lb.A38_OF_DIVISION.get(d, "SZ") for d in division])
    a17 = np.array([lb.A17_OF_A38[x] for x in a38])
    out["grand_secteur_d_activite"] = [lb.GRAND_SECTEUR_OF_A17.get(x, "Services") for x in a17]
    out["secteur_na17"] = [f"{x} {lb.A17_LABELS[x]}" for x in a17]
    out["secteur_na38"] = [f"{x} {lb.A38_LABELS[x]}" for x in a38]
    div_labels = _division_labels(ref)
    out["secteur_na88"] = [f"{d:02d} {div_labels.get(f'{d:02d}', '')}".strip() for d in division]
    out["ape"] = [f"{c} {lab}".strip() for c, lab in zip(naf, label)]
    out["code_ape"] = naf
    for y in years:
        n = counts[y]
        e = np.maximum(effs[y], np.where(n > 0, 1, 0))
        out[f"nombre_d_etablissements_{y}"] = pd.array(np.where(n > 0, n, np.nan), dtype="Int64")
        out[f"effectifs_salaries_{y}"] = pd.array(np.where(n > 0, e, np.nan), dtype="Int64")
    keep = np.zeros(n_cells, bool)
    for y in years:
        keep |= counts[y] > 0
    out = out[keep].sort_values(["code_departement", "code_commune", "code_ape"], kind="stable")
    _write(out, path)
    return len(out)


def _write(df: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, sep=";", index=False, lineterminator="\n", encoding="utf-8")


def _region_of(ref: Reference, dep: str) -> str:
    rows = ref.communes.loc[ref.communes["code_departement"] == dep, "code_region"]
    return rows.iloc[0] if len(rows) else ""


def _dep_name(ref: Reference, dep: str) -> str:
    return ref.departement_names.get(dep) or lb.DEPARTEMENTS.get(dep, dep)


def _neighbours(ref: Reference, dep: str) -> list[str]:
    region = _region_of(ref, dep)
    same = sorted(ref.communes.loc[ref.communes["code_region"] == region, "code_departement"].unique())
    rest = sorted(ref.communes["code_departement"].unique())
    return [d for d in same if d != dep] + [d for d in rest if d != dep and d not in same]


def employment_zones(ref: Reference) -> pd.DataFrame:
    """Zone d'emploi of each commune: the reference's when it has one, else a made-up zone per EPCI cluster
    (EPCI of under 8 % of the population join the biggest EPCI of their arrondissement), coded <region><nn>."""
    com = ref.communes.copy()
    have = com["code_zone_emploi"].fillna("") != ""
    com["zone"] = com["code_zone_emploi"].where(have, "")
    todo = com[~have]
    if len(todo):
        epci_pop = todo.groupby(["code_departement", "siren_epci"])["population"].sum().rename("p").reset_index()
        first_arr = todo.groupby("siren_epci")["code_arrondissement"].agg(lambda s: s.mode().iloc[0])
        epci_pop["arr"] = epci_pop["siren_epci"].map(first_arr)
        dep_pop = epci_pop.groupby("code_departement")["p"].transform("sum")
        big = epci_pop["p"] >= 0.08 * dep_pop
        leader = epci_pop.sort_values("p", ascending=False).drop_duplicates(["code_departement", "arr"])
        lead_of_arr = dict(zip(zip(leader["code_departement"], leader["arr"]), leader["siren_epci"]))
        epci_pop["zone_epci"] = np.where(big, epci_pop["siren_epci"],
                                         [lead_of_arr[(d, a)] for d, a in zip(epci_pop["code_departement"],
                                                                               epci_pop["arr"])])
        numbers = {z: i + 1 for i, z in enumerate(sorted(epci_pop["zone_epci"].unique()))}
        region = todo.drop_duplicates("siren_epci").set_index("siren_epci")["code_region"]
        epci_pop["zone"] = [f"{region.get(z, '00')}{numbers[z] % 100:02d}" for z in epci_pop["zone_epci"]]
        zone_of_epci = dict(zip(epci_pop["siren_epci"], epci_pop["zone"]))
        com.loc[~have, "zone"] = todo["siren_epci"].map(zone_of_epci).fillna("").to_numpy()
    names = com.sort_values("population", ascending=False).drop_duplicates("zone").set_index("zone")["nom_commune"]
    com["nom_zone"] = com["zone"].map(names).fillna("")
    return com[["code_commune", "zone", "nom_zone"]]


def _commune_labels(ref: Reference, commune: np.ndarray) -> pd.DataFrame:
    com = ref.communes.set_index("code_commune")
    com = com[~com.index.duplicated()]
    zones = employment_zones(ref).set_index("code_commune")
    zones = zones[~zones.index.duplicated()]
    c = com.reindex(commune)
    z = zones.reindex(commune)
    dep = c["code_departement"].fillna("").to_numpy()
    region = c["code_region"].fillna("").to_numpy()
    former = [lb.FORMER_REGION_OF.get(d, ("", "")) for d in dep]
    out = pd.DataFrame({
        "region": [lb.REGIONS.get(r, "") for r in region],
        "ancienne_region": [f[1] for f in former],
        "departement": [_dep_name(ref, d) for d in dep],
        "zone_d_emploi": z["nom_zone"].fillna("").to_numpy(),
        "epci": c["nom_epci"].fillna("").to_numpy() if "nom_epci" in c else "",
        "commune": c["nom_commune"].fillna("").to_numpy(),
        "intitule_commune": [f"{n} ({k})" for n, k in zip(c["nom_commune"].fillna(""), commune)],
    })
    for col in ("grand_secteur_d_activite", "secteur_na17", "secteur_na38", "secteur_na88", "ape"):
        out[col] = ""
    out["code_region"] = region
    out["code_ancienne_region"] = [f[0] for f in former]
    out["code_departement"] = dep
    out["code_zone_d_emploi"] = z["zone"].fillna("").to_numpy()
    out["code_epci"] = c["siren_epci"].fillna("").to_numpy()
    out["code_commune"] = commune
    return out


def _naf_labels(ref: Reference, dotted: list[str]) -> list[str]:
    table = dict(zip(m.GENERAL_NAF_CODES, m.GENERAL_NAF_LABELS))
    table.update(m.EXTRA_NAF_LABELS)
    if ref.naf is not None:
        table.update(dict(zip(ref.naf["code"], ref.naf["libelle"])))
    return [table.get(x, "") for x in dotted]


def _division_labels(ref: Reference) -> dict[str, str]:
    if ref.naf is None or "libelle_division" not in ref.naf.columns:
        return {}
    return dict(zip(ref.naf["code"].str[:2], ref.naf["libelle_division"]))
