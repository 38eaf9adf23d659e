-- core_etablissements_annuel: the yearly series since 2012 — each establishment of the current stock at 31 December
-- of each year it was active (the millésime year at the end of the millésime month), plus the first year it is seen
-- closed after being active (actif = false): legal form, ESS flag, activity and perimeters at that date
-- (core_situations, courant = false; perimetres_inclus: the perimeters it was in that year). Years before an
-- establishment's first history period have no row.
-- No employment here: SIRENE's history does not keep size bands, only the current stock has one (for its band year).
-- The ESS flag exists in SIRENE only for recent years: a year before a unit's flag was recorded takes the first flag
-- recorded after it (ess_flag_reconstitue, see core_situations).
-- Parameters: $perimetre.
SELECT s.siret, s.siren, s.annee, s.date_situation, s.actif, s.categorie_juridique, s.categorie_juridique_connue,
       s.ess_flag, s.ess_flag_reconstitue, s.famille_ess, s.activite, s.nomenclature_activite, s.source_activite,
       sec.section_a21, sec.secteur_ess,
       s.perimetres_inclus,
       CAST($perimetre AS VARCHAR) AS perimetre, list_contains(s.perimetres_inclus, $perimetre) AS dans_perimetre,
       s.motif_exclusion, s.source_unite_legale
FROM core_situations AS s
LEFT JOIN ref_secteurs_ess AS sec
  ON sec.nomenclature = s.nomenclature_activite AND sec.division = left(s.activite, 2)
WHERE NOT s.courant
