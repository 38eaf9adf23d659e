"""The two URSSAF open-data exports, built the way URSSAF builds them from the world's true employment, in the
portal's CSV export format.

- Commune × APE: for each year, the establishments of the URSSAF field (private employers of the régime général
  outside agriculture — the generator's own rules, minus the units under the MSA the rule does not see,
  model.URSSAF_FIELD_EXCEPTIONS) with employees on 31 December, by their commune and their APE of
  that year (URSSAF's own APE record differs from SIRENE's for a few establishments), and their headcount on
  31 December. An establishment closed since still counts in the years it lived. A few values are missing, as in
  the real file, more often in small cells (MISSING_VALUE_SHARE).
- ESS by département: for each year, the ANNUAL AVERAGE headcount (mean of quarterly headcounts) of the
  establishments of the field by URSSAF's ESS family (legal form and activity of that year), and the rest of the
  field as « Hors ESS »; establishments counted for the quarters they lived.
No noise is added: the files are exact aggregates of the truth under URSSAF's own definitions, which differ from
what SIRENE shows (year-end vs annual average, APE records, establishments closed since, bands of other years).
"""

from __future__ import annotations

import itertools
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from sources.sample import labels as lb
from sources.sample import model as m
from sources.sample.generator_reference import Reference
from sources.sample.truth import Timeline, in_perimetre
from sources.sample.world import World
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

# Mean yearly gross wage per employee in the URSSAF year (euros), and its nominal growth.
WAGE = {"associations": 27_600, "cooperatives": 41_200, "mutuelles": 42_500, "fondations": 33_900,
        "hors_ess": 38_700}
WAGE_GROWTH = 0.021
APE_RECORD_MISMATCH = 0.02  # share of establishments whose URSSAF APE record differs from SIRENE's
# Commune × APE values published empty (masked), by the cell's headcount that year: masking falls more often on
# small cells than on large ones, as a secrecy rule protecting small employers would. The estimator does NOT assume
# this: it measures the chance that a value is masked on cells of 10 employees or more only (METHOD § 3), so the
# sample tests how far that measure carries when the masking of small cells is higher.
MISSING_VALUE_SHARE = ((2, 0.012), (9, 0.006), (float("inf"), 0.003))  # (headcount up to, share masked)


def urssaf_family(timeline: Timeline, j: int) -> np.ndarray:
    """URSSAF's ESS family of each establishment in year index j ('hors_ess' for the rest of the field, None
    outside the field)."""
    fam = timeline.member(j, "famille_ess")
    insee = in_perimetre(timeline.member(j, "perimetres"), "insee")
    field = timeline.member(j, "champ_urssaf")
    out = np.where(insee & pd.Series(fam).isin(list(FAMILLE_LABELS)).to_numpy(), fam, "hors_ess").astype(object)
    out[~field] = None
    return out


@dataclass(frozen=True)
class NeighbourProfile:
    """How another département of the file differs from the sample's own one: its families' weights, a yearly
    growth of its own and its wages. Without it each neighbour is the own département scaled, and the report's
    comparison with the région and France shows the same shares and growth on every row (nothing to read)."""
    mix: dict = field(default_factory=dict)  # famille -> weight (1 when absent)
    drift: float = 0.0  # yearly growth beside the own département's
    wage: float = 1.0

    @classmethod
    def of(cls, departement: str) -> "NeighbourProfile":
        # drawn from the code, not from the writers' shared stream: the other files of the sample stay as they are
        g = np.random.default_rng(zlib.crc32(f"voisin-{departement}".encode()))
        mix = {f: float(g.uniform(0.7, 1.3)) for f in (*FAMILLE_LABELS, "hors_ess")}
        return cls(mix, float(g.uniform(-0.02, 0.02)), float(g.uniform(0.9, 1.1)))


def write_ess_departement(path: Path, world: World, timeline: Timeline, ref: Reference, departement: str,
                          rng: np.random.Generator) -> int:
    located = world.etabs["location"].to_numpy() == "departement"
    years = np.arange(m.URSSAF_FIRST_YEAR_ESS, m.URSSAF_YEAR + 1)
    series = {}
    for y in years:
        j = int(np.flatnonzero(timeline.years == y)[0])
        fam = urssaf_family(timeline, j)
        keep = located & pd.notna(fam)
        frame = pd.DataFrame({"famille": fam[keep], "eff": timeline.average[keep, j],
                              "n": timeline.quarters[keep, j]}).groupby("famille").sum()
        series[int(y)] = frame
    rows = []

    def add(dep: str, factor: float, profile: NeighbourProfile = NeighbourProfile()) -> None:
        region = _region_of(ref, dep)
        former_code, former_name = lb.FORMER_REGION_OF.get(dep, ("", ""))
        for famille in (*FAMILLE_LABELS, "hors_ess"):
            for y in years:
                s = series[int(y)]
                size = factor * profile.mix.get(famille, 1.0) * (1 + profile.drift) ** float(y - m.URSSAF_YEAR)
                eff = float(s["eff"].get(famille, 0.0)) * size
                n = float(s["n"].get(famille, 0.0)) * size
                wage = WAGE[famille] * profile.wage * (1 + WAGE_GROWTH) ** float(y - m.URSSAF_YEAR)
                rows.append({
                    "region": lb.REGIONS.get(region, ""), "ancienne_region": former_name,
                    "departement": _dep_name(ref, dep),
                    "champ_ess": CHAMP_ESS_NON if famille == "hors_ess" else CHAMP_ESS_OUI,
                    "famille_ess": FAMILLE_HORS_ESS if famille == "hors_ess" else FAMILLE_LABELS[famille],
                    "annee": int(y), "code_region": region, "code_ancienne_region": former_code,
                    "code_departement": dep, "nombre_d_etablissements": round(n * 4) / 4,
                    "effectifs_salaries_moyens": round(eff, 1), "masse_salariale": int(round(eff * wage)),
                })

    add(departement, 1.0)
    # A few other départements, so that a loader has to filter (sizes scaled by population).
    own_pop = float(ref.departement["population"].sum())
    pops = ref.communes.groupby("code_departement")["population"].sum()
    others = [d for d in _neighbours(ref, departement) if d != departement][:3]
    for d in others:
        add(d, max(0.05, float(pops.get(d, own_pop)) / own_pop) * float(rng.uniform(0.9, 1.1)),
            NeighbourProfile.of(d))
    df = pd.DataFrame(rows, columns=list(ESS_DEPARTEMENT_COLUMNS))
    df = df.sort_values(["code_departement", "annee", "champ_ess", "famille_ess"], kind="stable")
    _write(df, path)
    return len(df)


def write_commune_ape(path: Path, world: World, timeline: Timeline, ref: Reference, departement: str,
                      rng: np.random.Generator) -> int:
    """Employers by commune × APE, wide by year, from every establishment of the URSSAF field with employees on 31
    December (including the rows of other départements)."""
    e = world.etabs
    E = len(e)
    placed = pd.notna(e["code_commune"]).to_numpy() & (e["location"].to_numpy() != "etranger")
    mismatch = rng.random(E) < APE_RECORD_MISMATCH
    other = _sibling_codes(ref, e["naf"].to_numpy().astype(str), rng)
    # URSSAF's APE of each establishment before and after its activity change, as integer codes
    before = np.where(mismatch, other, timeline.activity[0]).astype(str)
    after = np.where(mismatch, other, timeline.activity[1]).astype(str)
    apes, ape_idx = np.unique(np.r_[before, after], return_inverse=True)
    ape_before, ape_after = ape_idx[:E], ape_idx[E:]
    communes, commune_idx = np.unique(e["code_commune"].astype(object).fillna("").to_numpy().astype(str),
                                      return_inverse=True)
    years = np.arange(m.COMMUNE_APE_FIRST_YEAR, m.URSSAF_YEAR + 1)
    n_cells = communes.size * apes.size
    counts, effs, rule_counts = [], [], []
    for y in years:
        j = int(np.flatnonzero(timeline.years == y)[0])
        h = timeline.headcount[:, j]
        field_ = timeline.member(j, "champ_urssaf")
        keep = placed & (h > 0) & field_
        # the rule's field (the exceptions under the MSA back in): its cells fix the number of draws of the masking
        # below, so that the exceptions change only the cells they are in
        rule = placed & (h > 0) & (field_ | timeline.member(j, "exception_champ_urssaf"))
        cell = commune_idx * apes.size + np.where(timeline.changed[:, j], ape_after, ape_before)
        counts.append(np.bincount(cell[keep], minlength=n_cells))
        effs.append(np.bincount(cell[keep], weights=h[keep], minlength=n_cells))
        rule_counts.append(np.bincount(cell[rule], minlength=n_cells))
    counts, effs = np.array(counts), np.array(effs)
    drawn = np.flatnonzero(np.array(rule_counts).sum(axis=0) > 0)
    listed = counts[:, drawn].sum(axis=0) > 0  # cells holding only exceptions are not in URSSAF's file
    cells = drawn[listed]
    commune_c = communes[cells // apes.size].astype(object)
    ape = np.char.replace(apes[cells % apes.size], ".", "").astype(object)
    out = _commune_labels(ref, commune_c)
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
    for k, y in enumerate(years):
        n = counts[k, cells].astype(float)
        eff = effs[k, cells]
        missing = masked(effs[k, drawn], rng)[listed] | (n == 0)
        n = np.where(missing, np.nan, n)
        eff = np.where(missing, np.nan, eff)
        out[f"nombre_d_etablissements_{y}"] = pd.array(n, dtype="Float64").round().astype("Int64")
        out[f"effectifs_salaries_{y}"] = pd.array(eff, dtype="Float64").round().astype("Int64")
    out = out.sort_values(["code_departement", "code_commune", "code_ape"], kind="stable")
    _write(out, path)
    return len(out)


def masked(headcount: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Which cells of one year URSSAF publishes empty, by their headcount (MISSING_VALUE_SHARE)."""
    bounds, shares = zip(*MISSING_VALUE_SHARE)
    share = np.asarray(shares)[np.searchsorted(bounds, headcount, side="left")]
    return rng.random(len(headcount)) < share


def _sibling_codes(ref: Reference, naf: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each activity, another sub-class of the same division (URSSAF's record of a few establishments)."""
    pool = np.array(sorted(set(m.GENERAL_NAF_CODES) | set(m.EXTRA_NAF_LABELS)
                           | (set(ref.naf["code"]) if ref.naf is not None else set())))
    divisions = pool.astype("U2")
    out = naf.copy().astype(object)
    for d in np.unique(naf.astype("U2")):
        idx = np.flatnonzero(naf.astype("U2") == d)
        choices = pool[divisions == d]
        if choices.size:
            out[idx] = rng.choice(choices, size=idx.size)
    return out


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
        # numbered within their region, as INSEE's codes are: a code names one zone in all of France (numbered
        # across France, codes of different départements collided, and a zone of Isère took a Savoie town's name)
        region = todo.drop_duplicates("siren_epci").set_index("siren_epci")["code_region"]
        leaders = sorted(epci_pop["zone_epci"].unique(), key=lambda z: (region.get(z, "00"), z))
        numbers = {z: i + 1 for _, zs in itertools.groupby(leaders, key=lambda z: region.get(z, "00"))
                   for i, z in enumerate(zs)}
        if max(numbers.values()) > 99:
            raise ValueError("more than 99 made-up zones d'emploi in a region: their 4-digit codes would collide")
        epci_pop["zone"] = [f"{region.get(z, '00')}{numbers[z]:02d}" for z in epci_pop["zone_epci"]]
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
