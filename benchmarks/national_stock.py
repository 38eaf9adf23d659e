"""Realistic synthetic NATIONAL SIRENE stocks for the benchmarks (not the embedded sample, not used by the tests).

    python -m benchmarks.national_stock --fraction 0.01 --dir /tmp/ess-national

writes the four stock files of a fraction of France, in both deliverables (`Stock*_utf8.zip` holding the CSV,
and `Stock*_utf8.parquet`), with the layouts in force (54 / 35 / 18 / 28 columns) and contents meant to read,
compress and filter like the real files:

- establishments spread over the real communes of the committed COG in proportion to their population (Paris,
  Lyon and Marseille by arrondissement municipal, as SIRENE codes them), most establishments of a legal unit in
  its home département, ≈ 0.3 % abroad (foreign country, no commune), a few without any location, ≈ 0.5 % with an
  old commune code;
- names built from vocabularies of French surnames, first names, street words and trade words — quoted names
  with commas and double quotes, long addresses with complements, sparse columns (second address, cedex,
  sigle, usage names…) mostly empty as in the real files; ≈ 55 % of establishments closed, old ones classified in
  NAFRev1; real NAF rév. 2 codes and legal forms;
- ≈ 1.47 establishments per legal unit, ≈ 2.2 history periods per establishment and ≈ 2.4 per legal unit
  (the 2026 proportions: 43.9 M establishments, 29.9 M legal units, 95.9 M and 71.4 M history rows at 100 %).

Everything is a deterministic function of (row number, seed): DuckDB computes the rows in parallel with hash(),
so 10 % of France takes minutes, not hours. The Parquet deliverable types dates as DATE, processing times as
TIMESTAMP, `etablissementSiege` as BOOLEAN, counts and coordinates as numbers and the legal form as BIGINT, as
some monthly files did (the loader must turn them back into text).
"""

from __future__ import annotations

import argparse
import json
import time
import zipfile
from pathlib import Path

from ess.db import connect
from ess.paths import REFERENCE_DIR
from sources.sirene_layouts import LAYOUTS, csv_member_name, official_filename

# Rows of France in 2026 (SIRENE.md).
FRANCE = {"etablissements": 43_900_000, "unites_legales": 29_900_000, "etablissements_historique": 95_900_000,
          "unites_legales_historique": 71_400_000}
MANIFEST = "generation.json"

SURNAMES = """MARTIN BERNARD THOMAS PETIT ROBERT RICHARD DURAND DUBOIS MOREAU LAURENT SIMON MICHEL LEFEBVRE LEROY ROUX
DAVID BERTRAND MOREL FOURNIER GIRARD BONNET DUPONT LAMBERT FONTAINE ROUSSEAU VINCENT MULLER LEFEVRE FAURE ANDRE
MERCIER BLANC GUERIN BOYER GARNIER CHEVALIER FRANCOIS LEGRAND GAUTHIER GARCIA PERRIN ROBIN CLEMENT MORIN NICOLAS
HENRY ROUSSEL MATHIEU GAUTIER MASSON MARCHAND DUVAL DENIS DUMONT MARIE LEMAIRE NOEL MEYER DUFOUR MEUNIER BRUN
BLANCHARD GIRAUD JOLY RIVIERE LUCAS BRUNET GAILLARD BARBIER ARNAUD MARTINEZ GERARD ROCHE RENARD SCHMITT ROY LEROUX
COLIN VIDAL CARON PICARD ROGER FABRE AUBERT LEMOINE RENAUD DUMAS LACROIX OLIVIER PHILIPPE BOURGEOIS PIERRE BENOIT
REY LECLERC PAYET ROLLAND GUILLAUME LECOMTE LOPEZ JEAN DUPUY GUILLOT HUBERT BERGER CARPENTIER SANCHEZ DUPUIS MOULIN
LOUIS DESCHAMPS HUET VASSEUR PEREZ BOUCHER FLEURY ROYER KLEIN JACQUET ADAM PARIS POIRIER MARTY AUBRY GUYOT CARRE
CHARLES RENAULT CHARPENTIER MENARD MAILLARD BARON BERTIN BAILLY HERVE SCHNEIDER FERNANDEZ COLLET LEGER BOUVIER
JULIEN PREVOST MILLET PERROT DANIEL COUSIN GERMAIN BRETON BESSON LANGLOIS REMY PELLETIER LEVEQUE PERRIER LEBLANC
BARRE LEBRUN MARCHAL WEBER MALLET HAMON BOULANGER JACOB MONNIER MICHAUD RODRIGUEZ GUICHARD GILLET ETIENNE GRONDIN
POULAIN TESSIER CHEVALLIER COLLIN CHAUVIN DACOSTA BOUCHET GAY LEMAITRE BENARD MARECHAL HUMBERT REYNAUD ANTOINE
HOARAU PERRET BARTHELEMY CORDIER PICHON LEJEUNE GILBERT LAMY DELAUNAY PASQUIER CARLIER LAPORTE CHABERT MOLLARD
GIROUD BOUVARD REYMOND VEYRET BUISSON FAVRE BLANCHET VIAL SIBILLE ARGOUD TROUILLER BERTHET ROSSET CHAPUIS""".split()
FIRST_NAMES = """JEAN PIERRE MICHEL ANDRE PHILIPPE RENE LOUIS ALAIN JACQUES BERNARD MARCEL DANIEL ROGER ROBERT PAUL CLAUDE
CHRISTIAN HENRI GEORGES NICOLAS FRANCOIS PATRICK GERARD CHRISTOPHE JOSEPH JULIEN MAURICE RAYMOND PASCAL FREDERIC
ERIC DAVID LAURENT STEPHANE OLIVIER THIERRY SEBASTIEN MARIE JEANNE FRANCOISE MONIQUE CATHERINE NATHALIE ISABELLE
SYLVIE ANNE MARTINE NICOLE CHRISTINE SUZANNE HELENE VALERIE SANDRINE SOPHIE CELINE AURELIE JULIE CAMILLE EMMA LEA
CHLOE MANON INES SARAH LAURA PAULINE LUCAS HUGO THEO NATHAN ENZO LEO GABRIEL RAPHAEL ARTHUR MAXIME ANTOINE THOMAS
ALEXANDRE QUENTIN ROMAIN VINCENT MATHIEU CLEMENT ADRIEN BAPTISTE YANNICK GUILLAUME MELANIE AUDREY EMILIE ELODIE
MARINE CLAIRE AGNES BEATRICE BRIGITTE CHANTAL DOMINIQUE EVELYNE FLORENCE GENEVIEVE JOSIANE LUCIE ODILE""".split()
STREET_WORDS = """REPUBLIQUE LIBERATION PAIX VICTOIRE GARE EGLISE MAIRIE POSTE FONTAINE MOULIN CHATEAU STADE ECOLES
LILAS TILLEULS PLATANES CHENES ROSES VIGNES PRES CHAMPS BOIS FORET COLLINE SOURCE PONT PORT MARCHE HALLES RIVES
ALPES BELLEDONNE CHARTREUSE VERCORS OISANS ISERE DRAC RHONE LOIRE SEINE GARONNE MARNE CANAL LAC MONTAGNE VALLEE
CROIX CALVAIRE PRIEURE ABBAYE COUVENT TOUR REMPARTS FAUBOURG CITADELLE ARSENAL CASERNE USINE FORGES TANNERIES
VERRERIE BRIQUETERIE CARRIERES MINES SALINES PAPETERIES FILATURE TISSAGE GANTERIE CIMENTERIE""".split()
PEOPLE = """JEAN_JAURES VICTOR_HUGO PASTEUR GAMBETTA CLEMENCEAU FOCH JOFFRE LECLERC JEAN_MOULIN ALSACE_LORRAINE
GENERAL_DE_GAULLE MARECHAL_FOCH PRESIDENT_WILSON ALBERT_1ER HENRI_BARBUSSE ANATOLE_FRANCE EMILE_ZOLA JULES_FERRY
LEON_BLUM PIERRE_CURIE MARIE_CURIE VOLTAIRE ROUSSEAU MOLIERE LAMARTINE STENDHAL BERLIOZ CHAMPOLLION VAUCANSON
DOCTEUR_SCHWEITZER RENE_CASSIN LOUISE_MICHEL SIMONE_VEIL JEAN_MERMOZ ARISTIDE_BRIAND PAUL_BERT CONDORCET""".split()
TRADE_WORDS = """BOULANGERIE PATISSERIE BOUCHERIE CHARCUTERIE EPICERIE PHARMACIE GARAGE MENUISERIE PLOMBERIE ELECTRICITE
MACONNERIE PEINTURE COIFFURE INFORMATIQUE CONSEIL TRANSPORTS TRAITEUR RESTAURANT BRASSERIE HOTEL AUBERGE CAMPING
IMMOBILIER AGENCE CABINET STUDIO ATELIER FERME DOMAINE CAVE LIBRAIRIE FLEURISTE OPTIQUE AMBULANCES TAXI
NETTOYAGE SERVICES ENERGIE SOLAIRE BATIMENT TRAVAUX PAYSAGE JARDINS AUTOMOBILES CYCLES SPORTS LOISIRS CULTURE
FORMATION EDUCATION SANTE SOINS AIDE HABITAT LOGEMENT RESTAURATION DISTRIBUTION LOGISTIQUE INGENIERIE ETUDES""".split()
ASSOCIATION_WORDS = """AMICALE COMITE CLUB UNION FOYER CERCLE ENTENTE ASSOCIATION SOCIETE FEDERATION COLLECTIF
GROUPEMENT MAISON OFFICE CENTRE RESEAU""".split()
ASSOCIATION_TOPICS = """DES PARENTS D ELEVES|DU SOU DES ECOLES|DES FETES|SPORTIF|DE PETANQUE|DE FOOTBALL|DE RUGBY|DE TENNIS
|DE SKI|DE RANDONNEE|DES ANCIENS COMBATTANTS|DU TROISIEME AGE|CULTUREL|MUSICAL|DE THEATRE|DE CHASSE|DE PECHE
|D AIDE A DOMICILE|DES JEUNES|DE QUARTIER|DU PATRIMOINE|DES AMIS DE LA NATURE|DE JUMELAGE|DES COMMERCANTS
|D ENTRAIDE|DE DANSE|DE YOGA|DES DONNEURS DE SANG|DE GYMNASTIQUE|DE SAUVEGARDE|D ANIMATION|LAIQUE""".replace(
    "\n", "").split("|")
STREET_TYPES = ["RUE", "RUE", "RUE", "AV", "BD", "CHE", "RTE", "PL", "ALL", "IMP", "QUAI", "CRS", "LD", "ZA", "SQ"]
COUNTRIES = [("99134", "ESPAGNE"), ("99109", "ALLEMAGNE"), ("99131", "BELGIQUE"), ("99140", "SUISSE"),
             ("99127", "ITALIE"), ("99132", "ROYAUME-UNI"), ("99404", "ETATS-UNIS"), ("99350", "MAROC")]
# Legal forms with rough weights (per 1 000 legal units).
LEGAL_FORMS = [("1000", 560), ("5499", 90), ("5710", 80), ("6540", 70), ("9220", 80), ("5720", 30), ("5498", 25),
               ("6599", 10), ("5410", 10), ("5306", 3), ("5460", 2), ("5560", 3), ("5599", 3), ("5202", 3),
               ("6316", 2), ("8210", 2), ("9300", 2), ("6411", 1), ("7344", 4), ("7210", 5), ("9260", 3),
               ("5458", 2), ("6533", 2), ("5485", 1), ("6210", 1), ("5308", 1)]
COMMON_NAF = ["68.20B", "68.20A", "70.22Z", "47.11B", "56.10A", "56.10C", "94.99Z", "81.10Z", "86.90D", "43.21A",
              "43.22A", "43.31Z", "49.32Z", "62.01Z", "70.10Z", "96.02A", "85.59A", "90.01Z", "93.12Z", "47.91B",
              "01.21Z", "01.11Z", "64.20Z", "66.19B", "86.21Z", "88.99B", "93.19Z", "74.90B", "46.90Z", "47.19B"]
TRANCHES = ["NN", "00", "01", "02", "03", "11", "12", "21", "22", "31", "32", "41", "42", "51"]


def _sql_list(values) -> str:
    return "[" + ", ".join("'" + str(v).replace("'", "''") + "'" for v in values) + "]"


def _pick(values, *salt) -> str:
    """SQL choosing one of `values` from a hash of the row number and a salt."""
    args = ", ".join(str(s) for s in salt)
    return f"{_sql_list(values)}[1 + CAST(hash({args}) % {len(values)} AS INTEGER)]"


def _chance(per_thousand: int, *salt) -> str:
    args = ", ".join(str(s) for s in salt)
    return f"(hash({args}) % 1000 < {per_thousand})"


def _date(lo: str, days: int, *salt) -> str:
    args = ", ".join(str(s) for s in salt)
    return f"(DATE '{lo}' + CAST(hash({args}) % {days} AS INTEGER))"


class _Generator:
    def __init__(self, con, fraction: float, seed: int) -> None:
        self.con, self.seed = con, seed
        self.n = {k: max(1, round(v * fraction)) for k, v in FRANCE.items()}
        self._prepare()

    def s(self, k: int) -> str:
        """A salt: distinct per use and per seed."""
        return f"{self.seed * 1000 + k}"

    def _prepare(self) -> None:
        con = self.con
        communes = REFERENCE_DIR / "communes_2026.csv"
        passage = REFERENCE_DIR / "communes_passage_2026.csv"
        # One slot per ≈ 100 inhabitants: a commune is drawn with a probability proportional to its population.
        # Paris, Lyon and Marseille are drawn by arrondissement municipal (SIRENE's coding), not as a whole.
        con.execute(f"""CREATE OR REPLACE TEMP TABLE communes AS
            SELECT code_commune, upper(strip_accents(nom_commune)) AS nom, code_departement AS dep,
                   coalesce(nullif(split_part(codes_postaux, ' ', 1), ''), left(code_commune, 2) || '000') AS cp,
                   greatest(1, round(coalesce(try_cast(population AS DOUBLE), 0) / 100))::BIGINT AS poids
            FROM read_csv('{communes}', all_varchar = true, header = true) c
            WHERE (type = 'commune' AND code_commune NOT IN ('75056', '69123', '13055'))
               OR type = 'arrondissement_municipal'""")
        con.execute("""CREATE OR REPLACE TEMP TABLE slots AS
            SELECT s AS slot, code_commune, nom, dep, cp FROM (
                SELECT *, CAST(sum(poids) OVER (ORDER BY code_commune) - poids AS BIGINT) AS debut FROM communes) c,
                range(c.debut, c.debut + c.poids) r(s)""")
        self.n_slots = con.execute("SELECT count(*) FROM slots").fetchone()[0]
        con.execute(f"""CREATE OR REPLACE TEMP TABLE anciens AS
            SELECT row_number() OVER (ORDER BY ancien_code) - 1 AS k, ancien_code
            FROM read_csv('{passage}', all_varchar = true, header = true) WHERE type_passage = 'ancien_code'""")
        self.n_old = con.execute("SELECT count(*) FROM anciens").fetchone()[0]
        naf = REFERENCE_DIR / "naf_rev2.csv"
        # Activities are skewed (real estate, consulting, shops, associations…): common codes weigh 40 times more.
        con.execute(f"""CREATE OR REPLACE TEMP TABLE naf AS
            SELECT row_number() OVER (ORDER BY code, s) - 1 AS k, code FROM (
                SELECT code, CASE WHEN code IN {tuple(COMMON_NAF)} THEN 40 ELSE 1 END AS w
                FROM read_csv('{naf}', all_varchar = true)) n, range(n.w) r(s)""")
        self.n_naf = con.execute("SELECT count(*) FROM naf").fetchone()[0]
        forms = ", ".join(f"('{code}', {w})" for code, w in LEGAL_FORMS)
        con.execute(f"""CREATE OR REPLACE TEMP TABLE formes AS
            SELECT s AS slot, code FROM (
                SELECT code, w, CAST(sum(w) OVER (ORDER BY code) - w AS BIGINT) AS debut FROM (VALUES {forms}) v(code, w)) f,
                range(f.debut, f.debut + f.w) r(s)""")
        self.n_forms = sum(w for _, w in LEGAL_FORMS)

    # --- pieces of text -------------------------------------------------------------------------------------

    def processed(self, i: str, k: int) -> str:
        """dateDernierTraitement: most rows were last touched by one of INSEE's mass updates, the others on a
        day of their own."""
        batch = f"TIMESTAMP '2017-01-01 00:00:00' + INTERVAL (hash({i}, {self.s(k)}) % 40 * 61) DAY"  # 40 dates
        own = f"TIMESTAMP '2015-01-01' + to_seconds(CAST(hash({i}, {self.s(k + 1)}) % 350000000 AS BIGINT))"
        return (f"strftime(CASE WHEN {_chance(850, i, self.s(k + 2))} THEN {batch} ELSE {own} END, "
                "'%Y-%m-%dT%H:%M:%S')")

    def person(self, i: str, k: int) -> tuple[str, str]:
        return _pick(FIRST_NAMES, i, self.s(k)), _pick(SURNAMES, i, self.s(k + 1))

    def street(self, i: str, k: int) -> str:
        words = [w.replace("_", " ") for w in PEOPLE]
        return (f"CASE hash({i}, {self.s(k)}) % 4 "
                f"WHEN 0 THEN 'DE LA ' || {_pick(STREET_WORDS, i, self.s(k + 1))} "
                f"WHEN 1 THEN 'DES ' || {_pick(STREET_WORDS, i, self.s(k + 2))} "
                f"WHEN 2 THEN {_pick(words, i, self.s(k + 3))} "
                f"ELSE 'DU ' || {_pick(SURNAMES, i, self.s(k + 4))} END")

    def company(self, i: str, k: int, forme: str) -> str:
        """A legal person's name: quoted names, commas and double quotes as in the register."""
        a, b = _pick(SURNAMES, i, self.s(k)), _pick(SURNAMES, i, self.s(k + 1))
        trade = _pick(TRADE_WORDS, i, self.s(k + 2))
        place = _pick(STREET_WORDS, i, self.s(k + 3))
        assoc = f"{_pick(ASSOCIATION_WORDS, i, self.s(k + 4))} || ' ' || {_pick(ASSOCIATION_TOPICS, i, self.s(k + 5))}"
        return (f"CASE WHEN {forme} LIKE '92%' OR {forme} LIKE '93%' THEN "
                f"  CASE hash({i}, {self.s(k + 6)}) % 3 WHEN 0 THEN {assoc} || ' DE ' || {place} "
                f"    WHEN 1 THEN 'LES AMIS DE ' || {place} ELSE {assoc} || ' \"' || {place} || '\"' END "
                f"WHEN {forme} = '6540' THEN 'SCI ' || CASE WHEN hash({i}, {self.s(k + 7)}) % 2 = 0 "
                f"  THEN 'DES ' || {place} ELSE {a} || ' ' || {b} END "
                f"ELSE CASE hash({i}, {self.s(k + 8)}) % 5 "
                f"  WHEN 0 THEN {a} || ', ' || {b} || ' ET ASSOCIES' "
                f"  WHEN 1 THEN {trade} || ' ' || {a} "
                f"  WHEN 2 THEN {trade} || ' \"' || {place} || '\"' "
                f"  WHEN 3 THEN {trade} || ' DES ' || {place} || ', ' || {a} "
                f"  ELSE {a} || ' ' || {trade} || ' ' || lpad(CAST(hash({i}, {self.s(k + 9)}) % 100 AS VARCHAR), 2, '0') "
                f"END END")

    # --- the four stocks ------------------------------------------------------------------------------------

    def unites_legales_sql(self) -> str:
        n_ul = self.n["unites_legales"]
        i = "u"
        first, last = self.person(i, 1)
        forme = f"(SELECT code FROM formes WHERE slot = hash(u, {self.s(3)}) % {self.n_forms})"
        ei = "forme = '1000'"
        return f"""
        WITH base AS (
            SELECT range AS u, {forme} AS forme,
                   {_date('1950-01-01', 27000, i, self.s(4))} AS creation,
                   NOT {_chance(430, i, self.s(5))} AS actif,
                   (SELECT code FROM naf WHERE k = hash(range, {self.s(6)}) % {self.n_naf}) AS naf
            FROM range({n_ul}))
        SELECT
            lpad(CAST((u * 387420489 + 100000007) % 1000000000 AS VARCHAR), 9, '0') AS siren,
            CASE WHEN {_chance(30, i, self.s(7))} THEN 'P' ELSE 'O' END AS statutDiffusionUniteLegale,
            CASE WHEN {_chance(8, i, self.s(8))} THEN 'true' END AS unitePurgeeUniteLegale,
            CAST(creation AS VARCHAR) AS dateCreationUniteLegale,
            CASE WHEN NOT {ei} AND {_chance(60, i, self.s(9))}
                 THEN upper(left({_pick(TRADE_WORDS, i, self.s(10))}, 3) || left({last}, 2)) END AS sigleUniteLegale,
            CASE WHEN {ei} THEN CASE WHEN hash(u, {self.s(11)}) % 2 = 0 THEN 'M' ELSE 'F' END END AS sexeUniteLegale,
            CASE WHEN {ei} THEN {first} END AS prenom1UniteLegale,
            CASE WHEN {ei} AND {_chance(500, i, self.s(12))} THEN {_pick(FIRST_NAMES, i, self.s(13))} END
                AS prenom2UniteLegale,
            CASE WHEN {ei} AND {_chance(150, i, self.s(14))} THEN {_pick(FIRST_NAMES, i, self.s(15))} END
                AS prenom3UniteLegale,
            CASE WHEN {ei} AND {_chance(30, i, self.s(16))} THEN {_pick(FIRST_NAMES, i, self.s(17))} END
                AS prenom4UniteLegale,
            CASE WHEN {ei} THEN {first} END AS prenomUsuelUniteLegale,
            CASE WHEN {ei} AND {_chance(3, i, self.s(18))} THEN 'LE ' || {_pick(TRADE_WORDS, i, self.s(19))} END
                AS pseudonymeUniteLegale,
            CASE WHEN forme LIKE '92%' THEN 'W' || lpad(CAST(hash(u, {self.s(20)}) % 1000000000 AS VARCHAR), 9, '0')
                 END AS identifiantAssociationUniteLegale,
            CASE WHEN NOT {ei} AND {_chance(450, i, self.s(21))} THEN {_pick(TRANCHES, i, self.s(22))} END
                AS trancheEffectifsUniteLegale,
            CASE WHEN NOT {ei} AND {_chance(450, i, self.s(21))} THEN CAST(2019 + hash(u, {self.s(23)}) % 5 AS VARCHAR)
                 END AS anneeEffectifsUniteLegale,
            {self.processed('u', 24)} AS dateDernierTraitementUniteLegale,
            CAST(1 + hash(u, {self.s(25)}) % 6 AS VARCHAR) AS nombrePeriodesUniteLegale,
            CASE WHEN NOT {ei} AND {_chance(350, i, self.s(26))} THEN {_pick(['PME', 'PME', 'PME', 'ETI', 'GE'], i, self.s(27))}
                 END AS categorieEntreprise,
            CASE WHEN NOT {ei} AND {_chance(350, i, self.s(26))} THEN '2023' END AS anneeCategorieEntreprise,
            CAST(greatest(creation, {_date('2008-01-01', 6500, i, self.s(28))}) AS VARCHAR) AS dateDebut,
            CASE WHEN actif THEN 'A' ELSE 'C' END AS etatAdministratifUniteLegale,
            CASE WHEN {ei} THEN {last} END AS nomUniteLegale,
            CASE WHEN {ei} AND {_chance(80, i, self.s(29))} THEN {_pick(SURNAMES, i, self.s(30))} END AS nomUsageUniteLegale,
            CASE WHEN NOT {ei} THEN {self.company(i, 31, 'forme')} END AS denominationUniteLegale,
            CASE WHEN NOT {ei} AND {_chance(40, i, self.s(41))} THEN {_pick(TRADE_WORDS, i, self.s(42))} || ' '
                 || {_pick(STREET_WORDS, i, self.s(43))} END AS denominationUsuelle1UniteLegale,
            CASE WHEN NOT {ei} AND {_chance(5, i, self.s(44))} THEN {_pick(TRADE_WORDS, i, self.s(45))} END
                AS denominationUsuelle2UniteLegale,
            NULL AS denominationUsuelle3UniteLegale,
            forme AS categorieJuridiqueUniteLegale,
            CASE WHEN creation < DATE '1993-01-01' AND NOT actif AND {_chance(400, i, self.s(46))}
                 THEN left(naf, 4) || chr(65 + CAST(hash(u, {self.s(47)}) % 20 AS INTEGER)) ELSE naf END
                AS activitePrincipaleUniteLegale,
            CASE WHEN creation < DATE '1993-01-01' AND NOT actif AND {_chance(400, i, self.s(46))} THEN 'NAFRev1'
                 ELSE 'NAFRev2' END AS nomenclatureActivitePrincipaleUniteLegale,
            lpad(CAST(11 + hash(u, {self.s(48)}) % 3 * 13 AS VARCHAR), 5, '0') AS nicSiegeUniteLegale,
            CASE WHEN forme LIKE '92%' OR forme LIKE '54%' AND {_chance(50, i, self.s(49))} THEN 'O'
                 WHEN {_chance(400, i, self.s(50))} THEN 'N' END AS economieSocialeSolidaireUniteLegale,
            CASE WHEN NOT {ei} AND {_chance(300, i, self.s(51))} THEN 'N' END AS societeMissionUniteLegale,
            CASE WHEN {_chance(200, i, self.s(52))} THEN 'O' WHEN actif THEN 'N' END AS caractereEmployeurUniteLegale,
            CASE WHEN actif THEN left(naf, 5) || {_pick(['Y', 'Z', 'X', 'A', 'B'], i, self.s(53))} END
                AS activitePrincipaleNAF25UniteLegale
        FROM base"""

    def etablissements_sql(self) -> str:
        n_e, n_ul = self.n["etablissements"], self.n["unites_legales"]
        i = "e"
        # Establishment e belongs to legal unit u = e * U // E: one or two establishments each (≈ 1.47).
        u = f"(e * {n_ul} // {n_e})"
        first_of_u = f"(({u} * {n_e} + {n_ul} - 1) // {n_ul})"
        home = f"hash({u}, {self.s(100)}) % {self.n_slots}"
        here = f"hash(e, {self.s(101)}) % {self.n_slots}"
        return f"""
        WITH base AS (
            SELECT range AS e, {u} AS u, range - {first_of_u} AS rang,
                   CASE WHEN {_chance(3, i, self.s(102))} THEN 'etranger'
                        WHEN hash(e, {self.s(103)}) % 100000 < 4 THEN 'nulle_part'
                        WHEN {_chance(5, i, self.s(104))} THEN 'ancien' ELSE 'commune' END AS lieu,
                   CASE WHEN hash(e, {self.s(105)}) % 4 = 0 THEN {here} ELSE {home} END AS slot,
                   {_date('1950-01-01', 27000, i, self.s(106))} AS creation,
                   NOT {_chance(550, i, self.s(107))} AS actif,
                   (SELECT code FROM naf WHERE k = hash(range, {self.s(108)}) % {self.n_naf}) AS naf
            FROM range({n_e})),
        located AS (
            SELECT b.*, s.code_commune, s.nom, s.cp,
                   (SELECT ancien_code FROM anciens WHERE k = hash(b.e, {self.s(109)}) % {self.n_old}) AS ancien
            FROM base b JOIN slots s ON s.slot = b.slot)
        SELECT
            lpad(CAST((u * 387420489 + 100000007) % 1000000000 AS VARCHAR), 9, '0') AS siren,
            lpad(CAST(10 + rang * 13 + hash(e, {self.s(110)}) % 7 AS VARCHAR), 5, '0') AS nic,
            lpad(CAST((u * 387420489 + 100000007) % 1000000000 AS VARCHAR), 9, '0')
                || lpad(CAST(10 + rang * 13 + hash(e, {self.s(110)}) % 7 AS VARCHAR), 5, '0') AS siret,
            CASE WHEN {_chance(30, i, self.s(111))} THEN 'P' ELSE 'O' END AS statutDiffusionEtablissement,
            CASE WHEN NOT {_chance(2, i, self.s(112))} THEN CAST(creation AS VARCHAR) END AS dateCreationEtablissement,
            CASE WHEN {_chance(380, i, self.s(113))} THEN {_pick(TRANCHES, i, self.s(114))} END
                AS trancheEffectifsEtablissement,
            CASE WHEN {_chance(380, i, self.s(113))} THEN CAST(2019 + hash(e, {self.s(115)}) % 5 AS VARCHAR) END
                AS anneeEffectifsEtablissement,
            CASE WHEN {_chance(40, i, self.s(116))} THEN left(naf, 2) || right(naf, 3) || {_pick(['AA', 'AB', 'ZZ', 'BA'], i, self.s(117))}
                 END AS activitePrincipaleRegistreMetiersEtablissement,
            {self.processed('e', 118)} AS dateDernierTraitementEtablissement,
            CASE WHEN rang = 0 THEN 'true' ELSE 'false' END AS etablissementSiege,
            CAST(1 + hash(e, {self.s(119)}) % 5 AS VARCHAR) AS nombrePeriodesEtablissement,
            CASE WHEN {_chance(120, i, self.s(120))} THEN {_pick(['BATIMENT A', 'BATIMENT B', 'RESIDENCE LES PINS',
                 'ZI DES ILES', 'ZA LES PLANTEES', 'CENTRE COMMERCIAL GRAND PLACE', 'LE PARC', 'ESPACE ENTREPRISES',
                 'IMMEUBLE LE CONCORDE', 'LIEU DIT LA COMBE', 'HAMEAU DES GRANGES', 'PARC TECHNOLOGIQUE'],
                 i, self.s(121))} || CASE WHEN {_chance(300, i, self.s(122))} THEN ' ETAGE '
                 || CAST(hash(e, {self.s(123)}) % 9 AS VARCHAR) ELSE '' END END AS complementAdresseEtablissement,
            CASE WHEN lieu <> 'nulle_part' AND {_chance(800, i, self.s(124))}
                 THEN CAST(1 + hash(e, {self.s(125)}) % 250 AS VARCHAR) END AS numeroVoieEtablissement,
            CASE WHEN {_chance(30, i, self.s(126))} THEN {_pick(['B', 'T', 'Q', 'C'], i, self.s(127))} END
                AS indiceRepetitionEtablissement,
            CASE WHEN {_chance(15, i, self.s(128))} THEN CAST(2 + hash(e, {self.s(129)}) % 250 AS VARCHAR) END
                AS dernierNumeroVoieEtablissement,
            NULL AS indiceRepetitionDernierNumeroVoieEtablissement,
            CASE WHEN lieu <> 'nulle_part' THEN {_pick(STREET_TYPES, i, self.s(130))} END AS typeVoieEtablissement,
            CASE WHEN lieu <> 'nulle_part' THEN {self.street(i, 131)} END AS libelleVoieEtablissement,
            CASE WHEN lieu IN ('commune', 'ancien') THEN cp END AS codePostalEtablissement,
            CASE WHEN lieu IN ('commune', 'ancien') THEN nom END AS libelleCommuneEtablissement,
            CASE WHEN lieu = 'etranger' THEN {_pick(['BARCELONE', 'MUNICH', 'BRUXELLES', 'GENEVE', 'TURIN', 'LONDRES',
                 'NEW YORK', 'CASABLANCA'], i, self.s(136))} END AS libelleCommuneEtrangerEtablissement,
            CASE WHEN {_chance(25, i, self.s(137))} THEN 'BP ' || CAST(1 + hash(e, {self.s(138)}) % 900 AS VARCHAR) END
                AS distributionSpecialeEtablissement,
            CASE lieu WHEN 'commune' THEN code_commune WHEN 'ancien' THEN ancien END AS codeCommuneEtablissement,
            CASE WHEN lieu = 'commune' AND {_chance(20, i, self.s(139))} THEN left(cp, 3) || '0'
                 || CAST(hash(e, {self.s(140)}) % 10 AS VARCHAR) END AS codeCedexEtablissement,
            CASE WHEN lieu = 'commune' AND {_chance(20, i, self.s(139))} THEN nom || ' CEDEX' END
                AS libelleCedexEtablissement,
            CASE WHEN lieu = 'etranger' THEN {_pick([c for c, _ in COUNTRIES], i, self.s(141))} END
                AS codePaysEtrangerEtablissement,
            CASE WHEN lieu = 'etranger' THEN {_pick([n for _, n in COUNTRIES], i, self.s(141))} END
                AS libellePaysEtrangerEtablissement,
            CASE WHEN lieu = 'commune' AND actif AND {_chance(850, i, self.s(142))} THEN code_commune || '_'
                 || lpad(CAST(hash(e, {self.s(143)}) % 9999 AS VARCHAR), 4, '0') || '_'
                 || lpad(CAST(1 + hash(e, {self.s(125)}) % 250 AS VARCHAR), 5, '0') END AS identifiantAdresseEtablissement,
            CASE WHEN lieu = 'commune' AND actif AND {_chance(850, i, self.s(142))}
                 THEN CAST(round(100000 + hash(e, {self.s(144)}) % 1100000 + (hash(e, {self.s(145)}) % 10) / 10.0, 1)
                      AS VARCHAR) END AS coordonneeLambertAbscisseEtablissement,
            CASE WHEN lieu = 'commune' AND actif AND {_chance(850, i, self.s(142))}
                 THEN CAST(round(6050000 + hash(e, {self.s(146)}) % 1050000 + (hash(e, {self.s(147)}) % 10) / 10.0, 1)
                      AS VARCHAR) END AS coordonneeLambertOrdonneeEtablissement,
            CASE WHEN {_chance(8, i, self.s(148))} THEN 'CHEZ ' || {_pick(SURNAMES, i, self.s(149))} END
                AS complementAdresse2Etablissement,
            CASE WHEN {_chance(8, i, self.s(148))} THEN CAST(1 + hash(e, {self.s(150)}) % 99 AS VARCHAR) END
                AS numeroVoie2Etablissement,
            NULL AS indiceRepetition2Etablissement,
            CASE WHEN {_chance(8, i, self.s(148))} THEN 'RUE' END AS typeVoie2Etablissement,
            CASE WHEN {_chance(8, i, self.s(148))} THEN {self.street(i, 151)} END AS libelleVoie2Etablissement,
            CASE WHEN {_chance(8, i, self.s(148))} THEN cp END AS codePostal2Etablissement,
            CASE WHEN {_chance(8, i, self.s(148))} THEN nom END AS libelleCommune2Etablissement,
            NULL AS libelleCommuneEtranger2Etablissement,
            NULL AS distributionSpeciale2Etablissement,
            CASE WHEN {_chance(8, i, self.s(148))} THEN code_commune END AS codeCommune2Etablissement,
            NULL AS codeCedex2Etablissement,
            NULL AS libelleCedex2Etablissement,
            NULL AS codePaysEtranger2Etablissement,
            NULL AS libellePaysEtranger2Etablissement,
            CAST(greatest(creation, {_date('2008-01-01', 6500, i, self.s(156))}) AS VARCHAR) AS dateDebut,
            CASE WHEN actif THEN 'A' ELSE 'F' END AS etatAdministratifEtablissement,
            CASE WHEN {_chance(110, i, self.s(157))} THEN {_pick(TRADE_WORDS, i, self.s(158))} || ' '
                 || CASE WHEN hash(e, {self.s(159)}) % 2 = 0 THEN {_pick(SURNAMES, i, self.s(160))}
                         ELSE 'DU ' || {_pick(STREET_WORDS, i, self.s(161))} END END AS enseigne1Etablissement,
            CASE WHEN {_chance(6, i, self.s(162))} THEN {_pick(TRADE_WORDS, i, self.s(163))} END AS enseigne2Etablissement,
            CASE WHEN {_chance(1, i, self.s(164))} THEN {_pick(STREET_WORDS, i, self.s(165))} END AS enseigne3Etablissement,
            CASE WHEN {_chance(60, i, self.s(166))} THEN {_pick(TRADE_WORDS, i, self.s(167))} || ' '
                 || {_pick(SURNAMES, i, self.s(168))} END AS denominationUsuelleEtablissement,
            CASE WHEN creation < DATE '1993-01-01' AND NOT actif AND {_chance(400, i, self.s(169))}
                 THEN left(naf, 4) || chr(65 + CAST(hash(e, {self.s(170)}) % 20 AS INTEGER)) ELSE naf END
                AS activitePrincipaleEtablissement,
            CASE WHEN creation < DATE '1993-01-01' AND NOT actif AND {_chance(400, i, self.s(169))} THEN 'NAFRev1'
                 ELSE 'NAFRev2' END AS nomenclatureActivitePrincipaleEtablissement,
            CASE WHEN {_chance(150, i, self.s(171))} THEN 'O' WHEN actif THEN 'N' END AS caractereEmployeurEtablissement,
            CASE WHEN actif THEN left(naf, 5) || {_pick(['Y', 'Z', 'X', 'A', 'B'], i, self.s(172))} END
                AS activitePrincipaleNAF25Etablissement
        FROM located"""

    def _periods(self, entity: str, n_entities: int, n_rows: int) -> str:
        """Row r of a history file belongs to entity r * N // R; period j of it, the last one open (no dateFin)."""
        return (f"SELECT range AS r, range * {n_entities} // {n_rows} AS {entity}, "
                f"range - ((range * {n_entities} // {n_rows}) * {n_rows} + {n_entities} - 1) // {n_entities} AS j, "
                f"((range + 1) * {n_entities} + {n_rows} - 1) // {n_rows} > range * {n_entities} // {n_rows} + 1 "
                f"OR range + 1 = {n_rows} AS dernier FROM range({n_rows})")

    def etablissements_historique_sql(self) -> str:
        n_e, n_ul, n_h = self.n["etablissements"], self.n["unites_legales"], self.n["etablissements_historique"]
        i = "r"
        u = f"(e * {n_ul} // {n_e})"
        first_of_u = f"(({u} * {n_e} + {n_ul} - 1) // {n_ul})"
        return f"""
        WITH base AS (SELECT *, {u} AS u, e - {first_of_u} AS rang,
                             {_date('1973-01-01', 6000, 'e', self.s(200))} + CAST(j * 2100 AS INTEGER) AS debut,
                             (SELECT code FROM naf WHERE k = hash(e, r, {self.s(201)}) % {self.n_naf}) AS naf
                      FROM ({self._periods('e', n_e, n_h)}))
        SELECT
            lpad(CAST((u * 387420489 + 100000007) % 1000000000 AS VARCHAR), 9, '0') AS siren,
            lpad(CAST(10 + rang * 13 + hash(e, {self.s(110)}) % 7 AS VARCHAR), 5, '0') AS nic,
            lpad(CAST((u * 387420489 + 100000007) % 1000000000 AS VARCHAR), 9, '0')
                || lpad(CAST(10 + rang * 13 + hash(e, {self.s(110)}) % 7 AS VARCHAR), 5, '0') AS siret,
            CASE WHEN NOT dernier THEN CAST(debut + 2100 AS VARCHAR) END AS dateFin,
            CASE WHEN j > 0 OR NOT {_chance(20, i, self.s(202))} THEN CAST(debut AS VARCHAR) END AS dateDebut,
            CASE WHEN dernier AND {_chance(550, 'e', self.s(107))} THEN 'F' ELSE 'A' END AS etatAdministratifEtablissement,
            CASE WHEN dernier THEN 'true' ELSE 'false' END AS changementEtatAdministratifEtablissement,
            CASE WHEN {_chance(100, i, self.s(203))} THEN {_pick(TRADE_WORDS, i, self.s(204))} || ' '
                 || {_pick(SURNAMES, i, self.s(205))} END AS enseigne1Etablissement,
            NULL AS enseigne2Etablissement,
            NULL AS enseigne3Etablissement,
            CASE WHEN {_chance(150, i, self.s(206))} THEN 'true' ELSE 'false' END AS changementEnseigneEtablissement,
            CASE WHEN {_chance(50, i, self.s(207))} THEN {_pick(TRADE_WORDS, i, self.s(208))} END
                AS denominationUsuelleEtablissement,
            CASE WHEN {_chance(50, i, self.s(209))} THEN 'true' ELSE 'false' END
                AS changementDenominationUsuelleEtablissement,
            CASE WHEN debut < DATE '1993-01-01' THEN left(naf, 4) || chr(65 + CAST(hash(r, {self.s(210)}) % 20 AS INTEGER))
                 ELSE naf END AS activitePrincipaleEtablissement,
            CASE WHEN debut < DATE '1993-01-01' THEN 'NAFRev1' ELSE 'NAFRev2' END
                AS nomenclatureActivitePrincipaleEtablissement,
            CASE WHEN j > 0 AND {_chance(400, i, self.s(211))} THEN 'true' ELSE 'false' END
                AS changementActivitePrincipaleEtablissement,
            CASE WHEN {_chance(150, i, self.s(212))} THEN 'O' ELSE 'N' END AS caractereEmployeurEtablissement,
            CASE WHEN {_chance(100, i, self.s(213))} THEN 'true' ELSE 'false' END
                AS changementCaractereEmployeurEtablissement
        FROM base"""

    def unites_legales_historique_sql(self) -> str:
        n_ul, n_h = self.n["unites_legales"], self.n["unites_legales_historique"]
        i = "r"
        changes = [c for c in LAYOUTS["unites_legales_historique"][0] if c.startswith("changement")]
        flags = [f"CASE WHEN j > 0 AND {_chance(150 + 37 * n, i, self.s(300 + n))} THEN 'true' ELSE 'false' END "
                 f"AS {c}" for n, c in enumerate(changes)]
        forme = f"(SELECT code FROM formes WHERE slot = hash(u, {self.s(3)}) % {self.n_forms})"
        first, last = self.person("u", 1)
        return f"""
        WITH base AS (SELECT *, {forme} AS forme,
                             {_date('1973-01-01', 6000, 'u', self.s(330))} + CAST(j * 2300 AS INTEGER) AS debut,
                             (SELECT code FROM naf WHERE k = hash(u, r, {self.s(331)}) % {self.n_naf}) AS naf
                      FROM ({self._periods('u', n_ul, n_h)}))
        SELECT
            lpad(CAST((u * 387420489 + 100000007) % 1000000000 AS VARCHAR), 9, '0') AS siren,
            CASE WHEN NOT dernier THEN CAST(debut + 2300 AS VARCHAR) END AS dateFin,
            CASE WHEN j > 0 OR NOT {_chance(20, i, self.s(332))} THEN CAST(debut AS VARCHAR) END AS dateDebut,
            CASE WHEN dernier AND {_chance(430, 'u', self.s(5))} THEN 'C' ELSE 'A' END AS etatAdministratifUniteLegale,
            {flags[0]},
            CASE WHEN forme = '1000' THEN {last} END AS nomUniteLegale,
            {flags[1]},
            CASE WHEN forme = '1000' AND {_chance(80, 'u', self.s(29))} THEN {_pick(SURNAMES, 'u', self.s(30))} END
                AS nomUsageUniteLegale,
            {flags[2]},
            CASE WHEN forme <> '1000' THEN {self.company('u', 31, 'forme')} END AS denominationUniteLegale,
            {flags[3]},
            CASE WHEN forme <> '1000' AND {_chance(40, 'u', self.s(41))} THEN {_pick(TRADE_WORDS, 'u', self.s(42))} END
                AS denominationUsuelle1UniteLegale,
            NULL AS denominationUsuelle2UniteLegale,
            NULL AS denominationUsuelle3UniteLegale,
            {flags[4]},
            CASE WHEN j = 0 AND forme = '5710' THEN '5499' ELSE forme END AS categorieJuridiqueUniteLegale,
            {flags[5]},
            CASE WHEN debut < DATE '1993-01-01' THEN left(naf, 4) || chr(65 + CAST(hash(r, {self.s(333)}) % 20 AS INTEGER))
                 ELSE naf END AS activitePrincipaleUniteLegale,
            CASE WHEN debut < DATE '1993-01-01' THEN 'NAFRev1' ELSE 'NAFRev2' END
                AS nomenclatureActivitePrincipaleUniteLegale,
            {flags[6]},
            lpad(CAST(11 + hash(u, {self.s(48)}) % 3 * 13 AS VARCHAR), 5, '0') AS nicSiegeUniteLegale,
            {flags[7]},
            CASE WHEN forme LIKE '92%' AND debut >= DATE '2018-01-01' THEN 'O'
                 WHEN {_chance(300, i, self.s(334))} THEN 'N' END AS economieSocialeSolidaireUniteLegale,
            {flags[8]},
            CASE WHEN debut >= DATE '2022-01-01' AND {_chance(100, i, self.s(335))} THEN 'N' END
                AS societeMissionUniteLegale,
            {flags[9]},
            CASE WHEN {_chance(200, i, self.s(336))} THEN 'O' ELSE 'N' END AS caractereEmployeurUniteLegale,
            {flags[10]}
        FROM base"""


# Parquet typing of some monthly files (see the module docstring).
_PARQUET_TYPES = {
    "DATE": {"dateCreationEtablissement", "dateCreationUniteLegale", "dateDebut", "dateFin"},
    "TIMESTAMP": {"dateDernierTraitementEtablissement", "dateDernierTraitementUniteLegale"},
    "BOOLEAN": {"etablissementSiege", "unitePurgeeUniteLegale"},
    "BIGINT": {"categorieJuridiqueUniteLegale", "nombrePeriodesEtablissement", "nombrePeriodesUniteLegale",
               "anneeEffectifsEtablissement", "anneeEffectifsUniteLegale", "anneeCategorieEntreprise"},
    "DOUBLE": {"coordonneeLambertAbscisseEtablissement", "coordonneeLambertOrdonneeEtablissement"},
}


def _parquet_select(layout: tuple[str, ...]) -> str:
    items = []
    for col in layout:
        q = f'"{col}"'
        kind = next((k for k, cols in _PARQUET_TYPES.items() if col in cols), None)
        if kind == "TIMESTAMP":
            items.append(f"CAST(replace({q}, 'T', ' ') AS TIMESTAMP) AS {q}")
        elif kind == "BOOLEAN":
            items.append(f"({q} = 'true') AS {q}")
        elif kind:
            items.append(f"CAST({q} AS {kind}) AS {q}")
        else:
            items.append(q)
    return ", ".join(items)


def generate(folder: Path, fraction: float, *, seed: int = 2026, formats=("csv", "parquet"),
             verbose: bool = True, memory_limit: str = "2GB") -> dict:
    """Write the four national stocks of `fraction` of France into `folder` (skipping files already there);
    returns {file name: {rows, bytes, csv_bytes}} also kept in folder/generation.json."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    manifest_path = folder / MANIFEST
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    con = connect()
    con.execute("SET preserve_insertion_order = false")  # generation order does not matter; memory does
    # The sorts spill to disk: a shared machine keeps its memory (1 GB ran out at 30 %: the Parquet writer holds a
    # row group of 500 000 wide rows per thread besides the sort).
    con.execute(f"SET memory_limit = '{memory_limit}'")
    con.execute(f"SET temp_directory = '{folder / '.spill'}'")
    gen = _Generator(con, fraction, seed)
    queries = {"unites_legales": gen.unites_legales_sql, "etablissements": gen.etablissements_sql,
               "etablissements_historique": gen.etablissements_historique_sql,
               "unites_legales_historique": gen.unites_legales_historique_sql}
    for key, sql in queries.items():
        layout = LAYOUTS[key][0]
        targets = {fmt: folder / official_filename(key, fmt) for fmt in formats}
        if all(p.exists() for p in targets.values()):
            continue
        t0 = time.perf_counter()
        # Columns in the official order, every value as text (NULL = empty field).
        # INSEE's files are sorted by siren (then nic, then period): neighbouring rows share prefixes.
        order = {"etablissements": "siret", "unites_legales": "siren",
                 "etablissements_historique": "siret, dateDebut NULLS FIRST",
                 "unites_legales_historique": "siren, dateDebut NULLS FIRST"}[key]
        con.execute(f"CREATE OR REPLACE TEMP VIEW gen AS SELECT {', '.join(chr(34) + c + chr(34) for c in layout)} "
                    f"FROM ({sql()}) ORDER BY {order}")
        info = {"rows": gen.n[key]}
        if "parquet" in targets and not targets["parquet"].exists():
            tmp = targets["parquet"].with_suffix(".parquet.tmp")
            con.execute(f"COPY (SELECT {_parquet_select(layout)} FROM gen) TO '{tmp}' "
                        "(FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE 500000)")
            tmp.replace(targets["parquet"])
            info["parquet_bytes"] = targets["parquet"].stat().st_size
        if "csv" in targets and not targets["csv"].exists():
            csv_path = folder / csv_member_name(key)
            con.execute(f"COPY gen TO '{csv_path}' (HEADER, DELIMITER ',', QUOTE '\"', ESCAPE '\"')")
            info["csv_bytes"] = csv_path.stat().st_size
            tmp = targets["csv"].with_suffix(".zip.tmp")
            with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as z:
                z.write(csv_path, csv_path.name)
            csv_path.unlink()
            tmp.replace(targets["csv"])
            info["zip_bytes"] = targets["csv"].stat().st_size
        con.execute("DROP VIEW gen")
        manifest[key] = {**manifest.get(key, {}), **info, "fraction": fraction, "seed": seed}
        manifest_path.write_text(json.dumps(manifest, indent=2))
        if verbose:
            sizes = ", ".join(f"{k.split('_')[0]} {v / 1e6:,.0f} MB" for k, v in info.items() if k.endswith("bytes"))
            print(f"  {key}: {gen.n[key]:,} rows — {sizes} ({time.perf_counter() - t0:.0f} s)", flush=True)
    con.close()
    return manifest


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fraction", type=float, default=0.01, help="share of France (0.01 = 1 %%)")
    p.add_argument("--dir", type=Path, required=True)
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--formats", nargs="+", default=["csv", "parquet"], choices=["csv", "parquet"])
    p.add_argument("--memory-limit", default="2GB", help="DuckDB's memory while generating (the rest spills)")
    args = p.parse_args(argv)
    generate(args.dir, args.fraction, seed=args.seed, formats=args.formats, memory_limit=args.memory_limit)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
