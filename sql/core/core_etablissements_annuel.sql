-- core_etablissements_annuel: the yearly series since 2012 — each establishment of the current stock at 31 December
-- of each year it existed (the millésime year at the end of the millésime month): active or not, legal form, ESS
-- flag, activity and perimeters at that date (core_situations / core_perimetres, courant = false).
-- No employment here: SIRENE's history does not keep size bands, only the current stock has one (for its band year).
-- The ESS flag exists in SIRENE only for recent years: before, it is NULL and the `flag` perimeter is empty.
-- Parameters: $perimetre.
WITH perimetres AS (
    SELECT siret, annee,
           coalesce(bool_or(inclus) FILTER (WHERE perimetre = 'insee'), FALSE) AS perimetre_insee,
           coalesce(bool_or(inclus) FILTER (WHERE perimetre = 'loi2014'), FALSE) AS perimetre_loi2014,
           coalesce(bool_or(inclus) FILTER (WHERE perimetre = 'flag'), FALSE) AS perimetre_flag,
           coalesce(bool_or(inclus) FILTER (WHERE perimetre = $perimetre), FALSE) AS dans_perimetre,
           max(motif_exclusion) AS motif_exclusion
    FROM core_perimetres
    WHERE NOT courant
    GROUP BY ALL
)

SELECT s.siret, s.siren, s.annee, s.date_situation, s.actif, s.categorie_juridique, s.categorie_juridique_connue,
       s.ess_flag, s.famille_ess, s.activite, s.nomenclature_activite, s.source_activite,
       sec.section_a21, sec.secteur_ess,
       p.perimetre_insee, p.perimetre_loi2014, p.perimetre_flag,
       CAST($perimetre AS VARCHAR) AS perimetre, p.dans_perimetre, p.motif_exclusion, s.source_unite_legale
FROM core_situations AS s
JOIN perimetres AS p USING (siret, annee)
LEFT JOIN ref_secteurs_ess AS sec
  ON sec.nomenclature = s.nomenclature_activite AND sec.division = left(s.activite, 2)
WHERE NOT s.courant
