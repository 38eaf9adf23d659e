-- core_etablissements_prep: every establishment of the département's current stock with its territory, ESS family
-- and perimeters (perimetres_inclus: every perimeter of ref_perimetres it is in, one list — perimeters are rows of
-- perimetres.csv, never columns), activity, sector and size band — everything of core_etablissements but the estimated employment,
-- which transforms/employment.py adds.
-- Territory: the SIRENE commune code is looked up in the COG of the run, then among the old codes of
-- staging_communes_passage. Establishments that cannot be placed in the département are kept with a reason
-- (motif_placement) and NULL territory columns; an old code split between several communes is placed in the first
-- of them and flagged 'passage_ambigu'.
-- Employment: the band's interval from ref_tranches_effectifs (empty band = 'VIDE'), for audit; a band code missing
-- from the reference counts as 0 and is flagged tranche_connue = false.
-- Parameters: $departement, $perimetre.
WITH etablissements AS (
    SELECT e.*, nullif(upper(trim(e.code_commune)), '') AS code_source,
           nullif(upper(trim(e.tranche_effectifs)), '') AS tranche
    FROM staging_sirene_etablissements AS e
),

situations AS (
    SELECT * EXCLUDE (courant, annee, date_situation, motif_exclusion) FROM core_situations WHERE courant
),

perimetres AS (
    SELECT siret, perimetres_inclus,
           list_contains(perimetres_inclus, $perimetre) AS dans_perimetre,
           motif_exclusion
    FROM core_situations
    WHERE courant
),

-- territory ------------------------------------------------------------------------------------------------------
passage AS (
    SELECT upper(trim(ancien_code)) AS ancien_code, min(code_commune) AS code_commune,
           count(DISTINCT code_commune) AS nb_communes
    FROM staging_communes_passage
    GROUP BY 1
),

placement AS (
    SELECT e.siret, e.code_source,
           coalesce(direct.code_commune, nouvelle.code_commune) AS code_commune_cog,
           coalesce(direct.code_departement, nouvelle.code_departement) AS departement_commune,
           p.nb_communes
    FROM etablissements AS e
    LEFT JOIN core_communes AS direct ON direct.code_commune = e.code_source
    LEFT JOIN passage AS p ON direct.code_commune IS NULL AND p.ancien_code = e.code_source
    LEFT JOIN core_communes AS nouvelle ON nouvelle.code_commune = p.code_commune
),

placement_motive AS (
    SELECT siret, code_source, code_commune_cog,
           CASE
               WHEN code_source IS NULL THEN 'commune_absente'
               WHEN code_commune_cog IS NULL THEN 'commune_inconnue'
               WHEN departement_commune <> $departement THEN 'hors_departement'
               WHEN nb_communes > 1 THEN 'passage_ambigu'
           END AS motif_placement
    FROM placement
),

territoires AS (
    SELECT pm.siret, pm.code_source, pm.motif_placement,
           c.code_commune, c.siren_epci AS code_epci, c.code_arrondissement, c.code_zone_emploi
    FROM placement_motive AS pm
    LEFT JOIN core_communes AS c
      ON c.code_commune = pm.code_commune_cog
     AND coalesce(pm.motif_placement, 'passage_ambigu') = 'passage_ambigu'
),

-- employment: what SIRENE says (the estimate of each year is transforms/employment.py's) ------------------------
-- the band's interval at its band year, for audit: [0, 0] for NN, 00 and an empty band; the open band (53) has no
-- upper bound (NULL)
emplois AS (
    SELECT e.siret, e.tranche AS tranche_effectifs, e.annee_effectifs,
           t.tranche IS NOT NULL AS tranche_connue,
           coalesce(t.employeur, FALSE) AS employeur,
           coalesce(t.classe_taille, 'non_renseigne') AS classe_taille,
           coalesce(t.effectif_bas, 0) AS effectif_tranche_bas,
           CASE WHEN t.tranche IS NULL THEN 0 ELSE t.effectif_haut END AS effectif_tranche_haut,
           coalesce(t.tranche IS NOT NULL AND t.effectif_haut IS NULL, FALSE) AS tranche_ouverte
    FROM etablissements AS e
    LEFT JOIN ref_tranches_effectifs AS t ON t.tranche = coalesce(e.tranche, 'VIDE')
),

-- sector and the URSSAF private régime général field (calibration scope) -------------------------------------------
secteurs AS (
    SELECT s.siret, sec.section_a21, sec.secteur_ess
    FROM situations AS s
    LEFT JOIN ref_secteurs_ess AS sec
      ON sec.nomenclature = s.nomenclature_activite AND sec.division = left(s.activite, 2)
),

hors_champ AS (
    SELECT s.siret, min(ch.critere || ':' || ch.code) AS motif_hors_champ_urssaf
    FROM situations AS s
    JOIN ref_champ_urssaf AS ch
      ON (ch.critere = 'categorie_juridique_niveau1' AND ch.code = s.categorie_juridique_niveau1)
      OR (ch.critere = 'categorie_juridique' AND ch.code = s.categorie_juridique)
      OR (ch.critere = 'naf_division' AND ch.code = left(s.activite, 2))
    GROUP BY s.siret
)

SELECT e.siret, e.siren, e.statut_diffusion,
       t.code_commune, e.code_commune AS code_commune_source, t.code_epci, t.code_arrondissement,
       t.code_zone_emploi, CAST($departement AS VARCHAR) AS code_departement, t.motif_placement,
       s.categorie_juridique, s.categorie_juridique_connue, s.famille_ess, s.ess_flag,
       p.perimetres_inclus,
       CAST($perimetre AS VARCHAR) AS perimetre, p.dans_perimetre, p.motif_exclusion,
       s.activite, s.nomenclature_activite, s.source_activite, sec.section_a21, sec.secteur_ess,
       s.actif, em.employeur, e.caractere_employeur,
       em.tranche_effectifs, em.tranche_connue, em.annee_effectifs, em.classe_taille,
       em.effectif_tranche_bas, em.effectif_tranche_haut, em.tranche_ouverte,
       hc.siret IS NULL AS champ_urssaf, hc.motif_hors_champ_urssaf,
       -- identifying fields: internal only, and never for partially diffusible units
       CASE WHEN 'P' IN (e.statut_diffusion, ul.statut_diffusion) THEN NULL
            ELSE coalesce(e.denomination_usuelle, ul.denomination) END AS denomination,
       CASE WHEN 'P' IN (e.statut_diffusion, ul.statut_diffusion) THEN NULL ELSE e.enseigne END AS enseigne
FROM etablissements AS e
LEFT JOIN staging_sirene_unites_legales AS ul ON ul.siren = e.siren
JOIN situations AS s USING (siret)
JOIN perimetres AS p USING (siret)
JOIN territoires AS t USING (siret)
JOIN emplois AS em USING (siret)
JOIN secteurs AS sec USING (siret)
LEFT JOIN hors_champ AS hc USING (siret)
