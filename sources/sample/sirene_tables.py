"""The four SIRENE stock tables (current and history, units and establishments) derived from the world.

Tables are built as text, exactly as the CSV deliverable writes them (codes with leading zeros, booleans
true/false, dates YYYY-MM-DD); `parquet_types` then types some columns the way INSEE's Parquet files did.
Edge cases of real files are planted here and listed in `EdgeCases`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sources.sample import model as m
from sources.sample import names as nm
from sources.sample.history import after, before, build_periods, changed
from sources.sample.ids import as_text, nics_for
from sources.sample.generator_reference import Reference, sirene_label
from sources.sample.world import DAY, World, isin
from sources.sirene_layouts import (ETABLISSEMENT_54, ETABLISSEMENT_HISTORIQUE, UNITE_LEGALE_35,
                                    UNITE_LEGALE_HISTORIQUE)

ND = "[ND]"  # what INSEE writes in the masked fields of a partially diffusible unit
NAT = np.datetime64("NaT", "D")


@dataclass
class SireneTables:
    etablissements: pa.Table
    unites_legales: pa.Table
    etablissements_historique: pa.Table
    unites_legales_historique: pa.Table
    truth_keys: pd.DataFrame  # per establishment row of the file: siret as written, defect, current commune
    edge_cases: dict = field(default_factory=dict)
    # per world establishment: the activity before its change and the change date (NaT: none), so that the truth
    # knows each establishment's activity in any year; per unit: ESS flag and the date it was set
    activite_avant: np.ndarray | None = None
    date_changement_activite: np.ndarray | None = None
    ess_flag_unite: np.ndarray | None = None
    date_ess_flag_unite: np.ndarray | None = None


def _date_text(d: np.ndarray) -> np.ndarray:
    out = np.datetime_as_string(d.astype("datetime64[D]"), unit="D").astype(object)
    out[np.isnat(d)] = None
    return out


def _opt(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """values where mask, None elsewhere."""
    out = np.asarray(values, dtype=object).copy()
    out[~mask] = None
    return out


def _bool_text(b: np.ndarray) -> np.ndarray:
    return np.where(b, "true", "false").astype(object)


def _none(n: int) -> np.ndarray:
    return np.full(n, None, dtype=object)


def _rev1(naf: np.ndarray, rng) -> np.ndarray:
    """A NAF rév. 1-looking code for the period before 2008 ('85.3K' style)."""
    letters = np.array(list("ABCDEFGHJK"))
    return nm.join(np.char.add(np.char.add(naf.astype("U6").astype("U2"), "."),
                               rng.integers(1, 9, naf.size).astype(str)),
                   rng.choice(letters, naf.size), sep="")


def _naf25(naf: np.ndarray) -> np.ndarray:
    """A NAF 2025-looking code: same class, the 'Z' of undivided sub-classes becomes 'Y' ('32.12Z' -> '32.12Y');
    a few classes were renumbered (62.01 -> 62.10)."""
    code = np.asarray(naf, dtype="U6")
    cls = code.astype("U5")
    for old, new in {"62.01": "62.10", "62.02": "62.20", "47.91": "47.92", "63.11": "63.10"}.items():
        cls = np.where(cls == old, new, cls)
    last = np.ascontiguousarray(code).view("U1").reshape(-1, 6)[:, 5]
    last = np.where(last == "Z", "Y", last)
    return np.char.add(cls, last).astype(object)


def _timestamps(rng, lo: np.ndarray) -> np.ndarray:
    lo = np.maximum(np.where(np.isnat(lo), np.datetime64("2017-01-01"), lo), np.datetime64("2017-01-01"))
    day = lo + np.floor(rng.random(lo.size) * ((m.MILLESIME_END - lo) / DAY + 1)).astype(np.int64) * DAY
    secs = rng.integers(6 * 3600, 22 * 3600, lo.size).astype("timedelta64[s]")
    return np.datetime_as_string(day.astype("datetime64[s]") + secs, unit="s").astype(object)


def build_tables(world: World, ref: Reference, rng: np.random.Generator) -> SireneTables:
    units, etabs = world.units, world.etabs
    U, E = len(units), len(etabs)
    edge: dict = {}

    # ---------------- identifiers ----------------
    siren_u = as_text(units["siren"].to_numpy(), 9)
    u = etabs["unit"].to_numpy()
    nic = nics_for(etabs["siren"].to_numpy(), etabs["nic_seq"].to_numpy())
    nic_t = as_text(nic, 5)
    siren_e = siren_u[u]
    siret = np.char.add(siren_e, nic_t)
    siege = etabs["siege"].to_numpy()
    nic_siege = np.full(U, None, dtype=object)
    nic_siege[u[siege]] = nic_t[siege]
    no_est = pd.isna(nic_siege)
    nic_siege[no_est] = as_text(nics_for(units["siren"].to_numpy()[no_est], np.ones(no_est.sum(), np.int64)), 5)
    edge["sirens_leading_zero"] = int((siren_u.astype("U1") == "0").sum())

    # ---------------- diffusion status ----------------
    prof = units["profile"].to_numpy()
    p_partial = np.where(prof == "entrepreneur_individuel", 0.09, np.where(prof == "public", 0.0, 0.003))
    partial_u = rng.random(U) < p_partial
    partial_e = partial_u[u]
    edge["units_partial_diffusion"] = int(partial_u.sum())

    # ---------------- activities and their history ----------------
    naf_e = etabs["naf"].to_numpy().astype(object)
    naf_u = units["naf"].to_numpy().astype(object)
    created_e = etabs["created"].to_numpy().astype("datetime64[D]")
    created_u = units["created"].to_numpy().astype("datetime64[D]")
    closure_e = etabs["closure"].to_numpy().astype("datetime64[D]")
    closure_u = units["closure"].to_numpy().astype("datetime64[D]")
    rev1_e = _rev1(naf_e.astype(str), rng)
    rev1_u = _rev1(naf_u.astype(str), rng)

    def naf_switch(created, closure):
        d = np.full(created.size, m.NAF2008)
        d[~np.isnat(closure) & (closure <= m.NAF2008)] = NAT
        d[created >= m.NAF2008] = NAT
        return d

    def random_event(created, closure, p, not_before):
        lo = np.maximum(created, not_before) + 365 * DAY
        hi = np.where(np.isnat(closure), m.MILLESIME_END, closure) - 30 * DAY
        ok = (rng.random(created.size) < p) & (hi > lo)
        d = np.full(created.size, NAT)
        span = ((hi - lo) / DAY).astype(np.int64)
        d[ok] = lo[ok] + (rng.random(ok.sum()) * span[ok]).astype(np.int64) * DAY
        return d

    old_act_e = rng.choice(m.GENERAL_NAF_CODES, E).astype(object)
    old_act_e = np.where(old_act_e == naf_e, "82.99Z", old_act_e)
    old_act_u = rng.choice(m.GENERAL_NAF_CODES, U).astype(object)
    old_act_u = np.where(old_act_u == naf_u, "82.99Z", old_act_u)

    emp_e = etabs["caractere_employeur"].to_numpy().astype(object)
    ev_e = {
        "naf2008": naf_switch(created_e, closure_e),
        "activity": random_event(created_e, closure_e, 0.07, m.NAF2008),
        "employer": random_event(created_e, closure_e, 0.15, np.datetime64("2009-01-01")),
        "closure": closure_e,
    }
    per_e = build_periods(created_e, ev_e)
    pe = per_e["entity"]
    pre2008 = before(per_e, ev_e["naf2008"]) | ((created_e[pe] < m.NAF2008) & np.isnat(ev_e["naf2008"][pe]))
    act_h = np.where(before(per_e, ev_e["activity"]), old_act_e[pe], naf_e[pe])
    act_h = np.where(pre2008, rev1_e[pe], act_h).astype(object)
    nom_h = np.where(pre2008, "NAFRev1", "NAFRev2").astype(object)
    etat_h = np.where(after(per_e, ev_e["closure"]), "F", "A").astype(object)
    prev_emp = np.where(emp_e == "O", "N", "O").astype(object)
    emp_h = np.where(before(per_e, ev_e["employer"]), prev_emp[pe], emp_e[pe]).astype(object)
    emp_h[pd.isna(emp_e[pe]) & ~before(per_e, ev_e["employer"])] = None
    n_periods_e = np.bincount(pe, minlength=E)
    last_e = per_e["last"]
    cur_act_e = np.empty(E, dtype=object)
    cur_act_e[pe[last_e]] = act_h[last_e]
    cur_nom_e = np.empty(E, dtype=object)
    cur_nom_e[pe[last_e]] = nom_h[last_e]
    debut_e = np.empty(E, dtype="datetime64[D]")
    debut_e[pe[last_e]] = per_e["start"][last_e]

    flag_u = units["ess_flag"].to_numpy().astype(object)
    flag_u[flag_u == ""] = None
    cj_u = units["cj"].to_numpy().astype(object)
    emp_u = np.where(units["employeur"].to_numpy(), "O", "N").astype(object)
    ceased = units["ceased"].to_numpy()
    emp_u[ceased & (rng.random(U) < 0.5)] = None
    flag_date = np.datetime64("2018-01-01") + (rng.random(U) * 2500).astype(np.int64) * DAY
    flag_date = np.where(pd.isna(flag_u) | (created_u >= np.datetime64("2018-01-01")), NAT, flag_date)
    flag_date = np.where(~np.isnat(closure_u) & (flag_date >= closure_u), NAT, flag_date)
    cj_change = random_event(created_u, closure_u, 0.15, np.datetime64("2009-01-01"))
    cj_change[cj_u != "5710"] = NAT
    ev_u = {
        "naf2008": naf_switch(created_u, closure_u),
        "activity": random_event(created_u, closure_u, 0.05, m.NAF2008),
        "cj": cj_change,
        "ess": flag_date,
        "employer": random_event(created_u, closure_u, 0.12, np.datetime64("2009-01-01")),
        "closure": closure_u,
    }
    per_u = build_periods(created_u, ev_u)
    pu = per_u["entity"]
    pre2008_u = before(per_u, ev_u["naf2008"]) | ((created_u[pu] < m.NAF2008) & np.isnat(ev_u["naf2008"][pu]))
    act_hu = np.where(before(per_u, ev_u["activity"]), old_act_u[pu], naf_u[pu])
    act_hu = np.where(pre2008_u, rev1_u[pu], act_hu).astype(object)
    nom_hu = np.where(pre2008_u, "NAFRev1", "NAFRev2").astype(object)
    cj_hu = np.where(before(per_u, ev_u["cj"]), "5499", cj_u[pu]).astype(object)
    ess_hu = np.where(before(per_u, ev_u["ess"]), None, flag_u[pu]).astype(object)
    etat_hu = np.where(after(per_u, ev_u["closure"]), "C", "A").astype(object)
    prev_emp_u = np.where(emp_u == "O", "N", "O").astype(object)
    emp_hu = np.where(before(per_u, ev_u["employer"]), prev_emp_u[pu], emp_u[pu]).astype(object)
    emp_hu[pd.isna(emp_u[pu]) & ~before(per_u, ev_u["employer"])] = None
    last_u = per_u["last"]
    cur_act_u = np.empty(U, dtype=object)
    cur_act_u[pu[last_u]] = act_hu[last_u]
    cur_nom_u = np.empty(U, dtype=object)
    cur_nom_u[pu[last_u]] = nom_hu[last_u]
    debut_u = np.empty(U, dtype="datetime64[D]")
    debut_u[pu[last_u]] = per_u["start"][last_u]
    n_periods_u = np.bincount(pu, minlength=U)
    edge["unit_periods"] = int(pu.size)

    # NAF 2025 columns: filled for most active units (the Dec 2025 stock recoded them), never for closed ones.
    active_e = ~etabs["closed"].to_numpy()
    naf25_e = _opt(_naf25(naf_e.astype(str)), active_e & (rng.random(E) < 0.85))
    naf25_u = _opt(_naf25(naf_u.astype(str)), ~ceased & (rng.random(U) < 0.85))

    # ---------------- names ----------------
    is_ei = cj_u == "1000"
    female = rng.random(U) < 0.45
    first = np.where(female, rng.choice(nm.FIRST_F, U), rng.choice(nm.FIRST_M, U)).astype(object)
    surname = rng.choice(nm.SURNAMES, U).astype(object)
    home = etabs.loc[siege, ["unit", "nom_commune"]].set_index("unit")["nom_commune"].reindex(range(U))
    home_label = _labels(home.fillna("").to_numpy())
    denom = nm.join(rng.choice(nm.WORDS_A, U), rng.choice(nm.WORDS_B, U))
    denom = np.where(prof == "societe_civile_immobiliere", nm.join("SCI", surname), denom)
    asso = nm.join(rng.choice(nm.ASSO_PREFIX, U), rng.choice(nm.ASSO_TOPIC, U))
    asso = np.where(rng.random(U) < 0.5, nm.join(asso, home_label, sep=" DE "), asso)
    denom = np.where(prof == "association", asso, denom)
    denom = np.where(np.char.startswith(cj_u.astype(str), "63"), nm.join("CUMA", home_label, sep=" DE "), denom)
    denom = np.where(prof == "cooperative_banque", nm.join("CAISSE LOCALE", home_label, sep=" DE "), denom)
    denom = np.where(prof == "mutuelle", nm.join("MUTUELLE", rng.choice(nm.WORDS_A, U)), denom)
    denom = np.where(prof == "fondation", nm.join("FONDATION", surname), denom)
    denom = np.where(prof == "public", nm.join("ETABLISSEMENT PUBLIC", home_label), denom)
    labels = units["label"].fillna("").to_numpy().astype(str)
    denom = np.where(labels != "", _labels(labels), denom)
    dep_name = sirene_label(_dep_name(world.departement))
    denom = np.where(units["cj"].to_numpy() == "7220", f"DEPARTEMENT {dep_name}", denom).astype(object)
    denom[is_ei] = None
    nom = _opt(surname, is_ei)
    prenom1 = _opt(first, is_ei)
    prenom2 = _opt(np.where(female, rng.choice(nm.FIRST_F, U), rng.choice(nm.FIRST_M, U)),
                   is_ei & (rng.random(U) < 0.5))
    prenom3 = _opt(np.where(female, rng.choice(nm.FIRST_F, U), rng.choice(nm.FIRST_M, U)),
                   is_ei & (rng.random(U) < 0.15))
    sexe = _opt(np.where(female, "F", "M"), is_ei)
    nom_usage = _opt(rng.choice(nm.SURNAMES, U), is_ei & female & (rng.random(U) < 0.2))
    sigle = _opt(nm.join(rng.choice(nm.WORDS_A, U).astype("U3")), ~is_ei & (rng.random(U) < 0.06))
    rna = _opt(np.char.add(f"W{world.departement[:2]}", as_text(rng.integers(0, 10**7, U), 7)),
               (prof == "association") & (rng.random(U) < 0.7))
    for arr in (nom, prenom1, prenom2, prenom3, nom_usage, sigle, sexe):
        arr[partial_u & ~pd.isna(arr)] = ND
    denom[partial_u & ~pd.isna(denom)] = ND
    edge["masked_fields"] = ND

    # ---------------- unit-level current fields ----------------
    eff_u = units["effectif"].to_numpy()
    tranche_u = units["tranche"].to_numpy().astype(object)
    tranche_u[tranche_u == ""] = None
    annee_u = _opt(units["annee_tranche"].to_numpy().astype(str), units["annee_tranche"].to_numpy() > 0)
    cat = np.where(eff_u >= 5000, "GE", np.where(eff_u >= 250, "ETI", "PME")).astype(object)
    cat[ceased | units["extra"].to_numpy() & (rng.random(U) < 0.5)] = None
    mission = np.where(rng.random(U) < 0.002, "O", np.where(rng.random(U) < 0.4, "N", None)).astype(object)
    mission[(prof != "societe") | ceased] = None
    purged = ceased & (closure_u < np.datetime64("2005-01-01")) & (rng.random(U) < 0.3)

    ul = {
        "siren": siren_u.astype(object),
        "statutDiffusionUniteLegale": np.where(partial_u, "P", "O").astype(object),
        "unitePurgeeUniteLegale": _opt(np.full(U, "true"), purged),
        "dateCreationUniteLegale": _date_text(created_u),
        "sigleUniteLegale": sigle,
        "sexeUniteLegale": sexe,
        "prenom1UniteLegale": prenom1, "prenom2UniteLegale": prenom2, "prenom3UniteLegale": prenom3,
        "prenom4UniteLegale": _none(U),
        "prenomUsuelUniteLegale": prenom1.copy(),
        "pseudonymeUniteLegale": _none(U),
        "identifiantAssociationUniteLegale": rna,
        "trancheEffectifsUniteLegale": tranche_u,
        "anneeEffectifsUniteLegale": annee_u,
        "dateDernierTraitementUniteLegale": _timestamps(rng, debut_u),
        "nombrePeriodesUniteLegale": n_periods_u.astype(str).astype(object),
        "categorieEntreprise": cat,
        "anneeCategorieEntreprise": _opt(np.full(U, str(m.BAND_YEAR)), ~pd.isna(cat)),
        "dateDebut": _date_text(debut_u),
        "etatAdministratifUniteLegale": np.where(ceased, "C", "A").astype(object),
        "nomUniteLegale": nom,
        "nomUsageUniteLegale": nom_usage,
        "denominationUniteLegale": denom,
        "denominationUsuelle1UniteLegale": _opt(rng.choice(nm.WORDS_A, U), ~is_ei & (rng.random(U) < 0.03)),
        "denominationUsuelle2UniteLegale": _none(U),
        "denominationUsuelle3UniteLegale": _none(U),
        "categorieJuridiqueUniteLegale": cj_u,
        "activitePrincipaleUniteLegale": cur_act_u,
        "nomenclatureActivitePrincipaleUniteLegale": cur_nom_u,
        "nicSiegeUniteLegale": nic_siege,
        "economieSocialeSolidaireUniteLegale": flag_u,
        "societeMissionUniteLegale": mission,
        "caractereEmployeurUniteLegale": emp_u,
        "activitePrincipaleNAF25UniteLegale": naf25_u,
    }
    ul["prenomUsuelUniteLegale"][partial_u & ~pd.isna(prenom1)] = ND
    # Purged units keep little more than their identifiers and state.
    for col in ("denominationUniteLegale", "categorieEntreprise", "trancheEffectifsUniteLegale"):
        ul[col][purged] = None

    # ---------------- establishment-level current fields ----------------
    location = etabs["location"].to_numpy()
    in_dep = location == "departement"
    abroad = location == "etranger"
    code_commune = etabs["code_commune"].to_numpy().astype(object)
    commune_source = code_commune.copy()
    edge["old_commune_codes"] = 0
    if ref.passage is not None and len(ref.passage):
        # Establishments not touched since a merger still carry the old commune code.
        # Mergers only: a renumbering of the same commune (Corsica's 20xxx -> 2Axxx in 1976) is long gone.
        merged = ref.passage[ref.passage["ancien_code"].str[2:] != ref.passage["code_commune"].str[2:]]
        olds = merged.groupby("code_commune")["ancien_code"].apply(list)
        target = in_dep & isin(code_commune.astype(str), olds.index.to_numpy()) & (
            (~active_e) | (debut_e < np.datetime64("2019-01-01"))) & (rng.random(E) < 0.4)
        idx = np.flatnonzero(target)
        if idx.size:
            first_old = olds.map(lambda lst: lst[0])
            alt = olds.map(lambda lst: lst[-1])
            pick_alt = rng.random(idx.size) < 0.5
            commune_source[idx] = np.where(pick_alt, alt.reindex(code_commune[idx]).to_numpy(),
                                           first_old.reindex(code_commune[idx]).to_numpy())
        edge["old_commune_codes"] = int(idx.size)
    postal = _postal_codes(ref, etabs)
    lib_commune = _labels(np.where(pd.isna(etabs["nom_commune"].to_numpy()), "",
                                   etabs["nom_commune"].to_numpy()).astype(str)).astype(object)
    lib_commune[abroad] = None
    foreign = np.array(nm.FOREIGN, dtype=object)[rng.integers(0, len(nm.FOREIGN), E)]
    has_num = rng.random(E) < 0.75
    numero = _opt(rng.integers(1, 160, E).astype(str), has_num & ~abroad)
    indice = _opt(np.full(E, "B"), has_num & (rng.random(E) < 0.02) & ~abroad)
    type_voie = _opt(rng.choice(nm.STREET_TYPES, E, p=nm.STREET_TYPE_W / nm.STREET_TYPE_W.sum()), ~abroad)
    voie = rng.choice(nm.STREETS, E).astype(object)
    voie[abroad] = rng.choice(np.array(["RUE DU RHONE", "VIA ROMA", "HAUPTSTRASSE", "RUE NEUVE"]),
                              int(abroad.sum()))
    complement = _opt(np.char.add("BATIMENT ", rng.choice(np.array(list("ABCD")), E)), rng.random(E) < 0.06)
    distrib = _opt(np.char.add("BP ", rng.integers(1, 300, E).astype(str)), rng.random(E) < 0.015)
    cedex = rng.random(E) < 0.008
    ban = _opt(nm.join(code_commune.astype(str), as_text(rng.integers(0, 10000, E), 4),
                       as_text(rng.integers(1, 160, E), 5), sep="_"), in_dep & (rng.random(E) < 0.6))
    cx, cy = _lambert(ref, etabs, rng)
    has_xy = in_dep & (rng.random(E) < 0.8)
    lx = _opt(np.char.mod("%.1f", cx), has_xy)
    ly = _opt(np.char.mod("%.1f", cy), has_xy)
    craft = isin(naf_e.astype("U5"), ["43.21", "43.22", "43.32", "43.34", "43.99", "10.71", "96.02", "45.20"])
    rm = _opt(np.char.add(np.char.replace(naf_e.astype("U5"), ".", ""), rng.choice(np.array(["ZA", "ZB", "AA",
                                                                                          "AB"]), E)),
              craft & (rng.random(E) < 0.4))
    enseigne = _opt(nm.join(rng.choice(nm.ENSEIGNES, E), rng.choice(nm.SURNAMES, E)),
                    isin(prof[u], ["entrepreneur_individuel", "societe"]) & (rng.random(E) < 0.22))
    denom_usuelle = _opt(rng.choice(nm.WORDS_A, E), (rng.random(E) < 0.03) & ~isin(prof[u], ["public"]))
    for arr in (numero, indice, type_voie, complement, distrib, ban, lx, ly, enseigne, denom_usuelle):
        arr[partial_e & ~pd.isna(arr)] = ND
    voie[partial_e] = ND
    tranche_e = etabs["tranche"].to_numpy().astype(object)
    tranche_e[tranche_e == ""] = None
    annee_e = _opt(etabs["annee_tranche"].to_numpy().astype(str), etabs["annee_tranche"].to_numpy() > 0)
    created_txt = _date_text(created_e)
    created_txt[rng.random(E) < 0.002] = None  # unknown creation dates exist
    etab = {
        "siren": siren_e.astype(object),
        "nic": nic_t.astype(object),
        "siret": siret.astype(object),
        "statutDiffusionEtablissement": np.where(partial_e, "P", "O").astype(object),
        "dateCreationEtablissement": created_txt,
        "trancheEffectifsEtablissement": tranche_e,
        "anneeEffectifsEtablissement": annee_e,
        "activitePrincipaleRegistreMetiersEtablissement": rm,
        "dateDernierTraitementEtablissement": _timestamps(rng, debut_e),
        "etablissementSiege": _bool_text(siege),
        "nombrePeriodesEtablissement": n_periods_e.astype(str).astype(object),
        "complementAdresseEtablissement": complement,
        "numeroVoieEtablissement": numero,
        "indiceRepetitionEtablissement": indice,
        "dernierNumeroVoieEtablissement": _opt(numero, ~pd.isna(numero) & (rng.random(E) < 0.5)),
        "indiceRepetitionDernierNumeroVoieEtablissement": _none(E),
        "typeVoieEtablissement": type_voie,
        "libelleVoieEtablissement": voie,
        "codePostalEtablissement": _opt(postal, ~abroad),
        "libelleCommuneEtablissement": lib_commune,
        "libelleCommuneEtrangerEtablissement": _opt(foreign[:, 2], abroad),
        "distributionSpecialeEtablissement": distrib,
        "codeCommuneEtablissement": _opt(commune_source, ~abroad),
        "codeCedexEtablissement": _opt(postal, cedex & ~abroad),
        "libelleCedexEtablissement": _opt(np.char.add(lib_commune.astype(str), " CEDEX"), cedex & ~abroad),
        "codePaysEtrangerEtablissement": _opt(foreign[:, 0], abroad),
        "libellePaysEtrangerEtablissement": _opt(foreign[:, 1], abroad),
        "identifiantAdresseEtablissement": ban,
        "coordonneeLambertAbscisseEtablissement": lx,
        "coordonneeLambertOrdonneeEtablissement": ly,
    }
    for col in ETABLISSEMENT_54[30:44]:  # second address: almost always empty
        etab[col] = _none(E)
    second = np.flatnonzero(in_dep & (rng.random(E) < 0.004))
    etab["libelleVoie2Etablissement"][second] = rng.choice(nm.STREETS, second.size)
    etab["codePostal2Etablissement"][second] = postal[second]
    etab["codeCommune2Etablissement"][second] = code_commune[second]
    etab["libelleCommune2Etablissement"][second] = lib_commune[second]
    etab.update({
        "dateDebut": _date_text(debut_e),
        "etatAdministratifEtablissement": np.where(active_e, "A", "F").astype(object),
        "enseigne1Etablissement": enseigne,
        "enseigne2Etablissement": _none(E),
        "enseigne3Etablissement": _none(E),
        "denominationUsuelleEtablissement": denom_usuelle,
        "activitePrincipaleEtablissement": cur_act_e,
        "nomenclatureActivitePrincipaleEtablissement": cur_nom_e,
        "caractereEmployeurEtablissement": emp_e,
        "activitePrincipaleNAF25Etablissement": naf25_e,
    })

    # An establishment with an unknown creation date and a single period has no known start either.
    etab["dateDebut"][pd.isna(created_txt) & (n_periods_e == 1)] = None

    # ---------------- planted defects ----------------
    defect = np.full(E, None, dtype=object)
    candidates = np.flatnonzero(in_dep & active_e & ~siege & ~partial_e)
    bad = rng.choice(candidates, size=min(2, candidates.size), replace=False)
    other = siren_u[rng.integers(0, U, bad.size)]
    etab["siret"][bad] = np.char.add(other.astype(str), nic_t[bad])
    defect[bad] = "siret_incoherent_avec_siren"
    multi_units = np.flatnonzero(np.bincount(u[active_e & in_dep], minlength=U) >= 2)
    if multi_units.size:
        du = multi_units[rng.integers(0, multi_units.size)]
        second_siege = np.flatnonzero((u == du) & ~siege & active_e)[:1]
        etab["etablissementSiege"][second_siege] = "true"
        defect[second_siege] = "second_siege_actif"
    edge["siret_siren_mismatch"] = int(bad.size)
    edge["units_with_two_active_sieges"] = int(multi_units.size > 0)

    order = np.argsort(siret, kind="stable")
    dup = int(rng.integers(0, E))
    rows = np.r_[order, dup]
    rows = rows[np.argsort(siret[rows], kind="stable")]  # the duplicate sits next to its twin
    defect_rows = defect[rows].copy()
    defect_rows[np.r_[False, rows[1:] == rows[:-1]]] = "ligne_dupliquee"
    edge["duplicated_rows"] = 1
    etab_table = _text_table(etab, rows, ETABLISSEMENT_54)

    truth_keys = pd.DataFrame({
        "row": rows, "siret": etab["siret"][rows], "defaut": defect_rows,
    })

    ul_order = np.argsort(siren_u, kind="stable")
    ul_table = _text_table(ul, ul_order, UNITE_LEGALE_35)

    # ---------------- history tables ----------------
    e_hist = {
        "siren": siren_e[pe].astype(object), "nic": nic_t[pe].astype(object), "siret": siret[pe].astype(object),
        "dateFin": _date_text(per_e["end"]), "dateDebut": _date_text(per_e["start"]),
        "etatAdministratifEtablissement": etat_h,
        "changementEtatAdministratifEtablissement": _bool_text(changed(per_e, etat_h)),
        "enseigne1Etablissement": etab["enseigne1Etablissement"][pe],
        "enseigne2Etablissement": _none(pe.size), "enseigne3Etablissement": _none(pe.size),
        "changementEnseigneEtablissement": _bool_text(np.zeros(pe.size, bool)),
        "denominationUsuelleEtablissement": etab["denominationUsuelleEtablissement"][pe],
        "changementDenominationUsuelleEtablissement": _bool_text(np.zeros(pe.size, bool)),
        "activitePrincipaleEtablissement": act_h,
        "nomenclatureActivitePrincipaleEtablissement": nom_h,
        "changementActivitePrincipaleEtablissement": _bool_text(changed(per_e, act_h)),
        "caractereEmployeurEtablissement": emp_h,
        "changementCaractereEmployeurEtablissement": _bool_text(changed(per_e, emp_h)),
    }
    unknown_first = per_e["first"] & pd.isna(created_txt[pe])
    e_hist["dateDebut"][unknown_first] = None
    # Current period first, then older ones, establishment by establishment.
    h_order = np.lexsort((-per_e["start"].astype(np.int64), siret[pe]))
    eh_table = _text_table(e_hist, h_order, ETABLISSEMENT_HISTORIQUE)

    u_hist = {
        "siren": siren_u[pu].astype(object), "dateFin": _date_text(per_u["end"]),
        "dateDebut": _date_text(per_u["start"]),
        "etatAdministratifUniteLegale": etat_hu,
        "changementEtatAdministratifUniteLegale": _bool_text(changed(per_u, etat_hu)),
        "nomUniteLegale": nom[pu], "changementNomUniteLegale": _bool_text(np.zeros(pu.size, bool)),
        "nomUsageUniteLegale": nom_usage[pu], "changementNomUsageUniteLegale": _bool_text(np.zeros(pu.size, bool)),
        "denominationUniteLegale": ul["denominationUniteLegale"][pu],
        "changementDenominationUniteLegale": _bool_text(np.zeros(pu.size, bool)),
        "denominationUsuelle1UniteLegale": ul["denominationUsuelle1UniteLegale"][pu],
        "denominationUsuelle2UniteLegale": _none(pu.size), "denominationUsuelle3UniteLegale": _none(pu.size),
        "changementDenominationUsuelleUniteLegale": _bool_text(np.zeros(pu.size, bool)),
        "categorieJuridiqueUniteLegale": cj_hu,
        "changementCategorieJuridiqueUniteLegale": _bool_text(changed(per_u, cj_hu)),
        "activitePrincipaleUniteLegale": act_hu,
        "nomenclatureActivitePrincipaleUniteLegale": nom_hu,
        "changementActivitePrincipaleUniteLegale": _bool_text(changed(per_u, act_hu)),
        "nicSiegeUniteLegale": nic_siege[pu],
        "changementNicSiegeUniteLegale": _bool_text(np.zeros(pu.size, bool)),
        "economieSocialeSolidaireUniteLegale": ess_hu,
        "changementEconomieSocialeSolidaireUniteLegale": _bool_text(changed(per_u, ess_hu)),
        "societeMissionUniteLegale": mission[pu],
        "changementSocieteMissionUniteLegale": _bool_text(np.zeros(pu.size, bool)),
        "caractereEmployeurUniteLegale": emp_hu,
        "changementCaractereEmployeurUniteLegale": _bool_text(changed(per_u, emp_hu)),
    }
    uh_order = np.lexsort((-per_u["start"].astype(np.int64), siren_u[pu]))
    uh_table = _text_table(u_hist, uh_order, UNITE_LEGALE_HISTORIQUE)

    edge["establishments_abroad"] = int(abroad.sum())
    edge["establishments_other_departement"] = int((location == "autre_departement").sum())
    edge["units_without_establishment_in_file"] = int(units["extra"].sum())
    edge["odd_legal_form_codes"] = sorted(set(cj_u[~isin(cj_u, list(ref.cj_codes))]))
    edge["ghost_units_active_without_open_establishment"] = int(
        (~ceased & ~units["extra"].to_numpy() & (np.bincount(u, weights=active_e, minlength=U) == 0)).sum())
    edge["empty_size_bands_establishments"] = int(pd.isna(tranche_e).sum())

    truth_keys["siret_vrai"] = siret[rows]
    truth_keys["code_commune_fichier"] = etab["codeCommuneEtablissement"][rows]
    truth_keys["statut_diffusion"] = etab["statutDiffusionEtablissement"][rows]
    truth_keys["ess_flag"] = flag_u[u[rows]]
    return SireneTables(etablissements=etab_table, unites_legales=ul_table, etablissements_historique=eh_table,
                        unites_legales_historique=uh_table, truth_keys=truth_keys, edge_cases=edge,
                        activite_avant=old_act_e, date_changement_activite=ev_e["activity"],
                        ess_flag_unite=flag_u, date_ess_flag_unite=flag_date)


def _text_table(columns: dict[str, np.ndarray], rows: np.ndarray, names: tuple[str, ...]) -> pa.Table:
    """A table of text columns in the official order (None and NaN become empty cells)."""
    return pa.table({c: pa.array(columns[c][rows], pa.string(), from_pandas=True) for c in names})


def _labels(names: np.ndarray) -> np.ndarray:
    """SIRENE labels of names, computed once per distinct name."""
    uniq, inv = np.unique(names.astype(str), return_inverse=True)
    return np.array([sirene_label(x) for x in uniq], dtype=object)[inv]


def _dep_name(departement: str) -> str:
    from sources.sample.labels import DEPARTEMENTS
    return DEPARTEMENTS.get(departement, departement)


def _postal_codes(ref: Reference, etabs: pd.DataFrame) -> np.ndarray:
    """Postal code of each establishment's commune: from the reference table when it has one, else made up
    (département prefix + a number per commune; the chef-lieu gets xx000)."""
    com = ref.communes
    col = next((c for c in ("code_postal", "codes_postaux") if c in com.columns), None)
    codes = com["code_commune"].to_numpy().astype(str)
    if col:
        first = com[col].astype(str).str.extract(r"(\d{5})")[0].fillna("").to_numpy()
    else:
        first = np.full(codes.size, "", dtype=object)
    missing = first == ""
    if missing.any():
        dep = com["code_departement"].to_numpy().astype(str)
        prefix = np.where(isin(dep, ["2A", "2B"]), "20", np.char.replace(dep.astype("U3"), "97", "97"))
        pop_rank = com.groupby("code_departement")["population"].rank(ascending=False, method="first")
        num = np.where(pop_rank.to_numpy() == 1, 0, 100 + (pop_rank.to_numpy() * 7) % 890).astype(np.int64)
        num = (num // 10) * 10
        width = 5 - np.char.str_len(prefix.astype(str))
        made = np.array([p + str(n).zfill(w)[-w:] for p, n, w in zip(prefix, num, width)], dtype=object)
        first = np.where(missing, made, first)
    lookup = pd.Series(first, index=codes)
    lookup = lookup[~lookup.index.duplicated()]
    cc = etabs["code_commune"].astype(object).fillna("")
    return lookup.reindex(cc.to_numpy()).fillna("").to_numpy().astype(object)


def _lambert(ref: Reference, etabs: pd.DataFrame, rng) -> tuple[np.ndarray, np.ndarray]:
    """Lambert-93 coordinates around a made-up centre per commune (plausible for the département, not exact)."""
    codes = etabs["code_commune"].astype(object).fillna("").to_numpy().astype(str)
    uniq, inv = np.unique(codes, return_inverse=True)
    seed = np.array([sum(ord(c) * (i + 1) for i, c in enumerate(x)) for x in uniq])
    cx = 850_000 + (seed * 7919) % 110_000
    cy = 6_430_000 + (seed * 104_729) % 110_000
    return cx[inv] + rng.normal(0, 600, codes.size), cy[inv] + rng.normal(0, 600, codes.size)


# Columns typed in the Parquet deliverable the way INSEE's files were (integers lose the leading zeros).
_INT = {"nic", "categorieJuridiqueUniteLegale", "anneeEffectifsEtablissement", "anneeEffectifsUniteLegale",
        "nombrePeriodesEtablissement", "nombrePeriodesUniteLegale", "anneeCategorieEntreprise"}
_DATE = {"dateCreationEtablissement", "dateCreationUniteLegale", "dateDebut", "dateFin"}
_TS = {"dateDernierTraitementEtablissement", "dateDernierTraitementUniteLegale"}


def parquet_types(table: pa.Table) -> pa.Table:
    cols = []
    for name in table.column_names:
        col = table[name]
        if name in _INT:
            col = pc.cast(col, pa.int64())
        elif name in _DATE:
            col = pc.cast(col, pa.date32())
        elif name in _TS:
            col = pc.strptime(col, format="%Y-%m-%dT%H:%M:%S", unit="s")
        elif name == "etablissementSiege" or name.startswith("changement") or name == "unitePurgeeUniteLegale":
            col = pc.equal(col, "true")
        cols.append(col)
    return pa.table(cols, names=table.column_names)
