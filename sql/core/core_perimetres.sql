-- core_perimetres: each situation of core_situations judged against each perimeter of ref_perimetres (long).
-- A situation is a candidate of a perimeter when its catégorie juridique is selected (familles_cj: 'defaut' = the
-- families' codes marked inclus_par_defaut, 'toutes' = every listed code, 'aucune') or when the perimeter takes the
-- units flagged 'O' and the legal unit is flagged. A candidate is in the perimeter unless the perimeter applies the
-- NAF exclusions and an active rule matched its activity (motif_exclusion then names the rule).
WITH situations AS (
    SELECT siret, courant, annee, famille_cj, famille_cj_par_defaut, ess_flag, famille_ess, regle_naf
    FROM core_situations
),

evaluations AS (
    SELECT s.siret, s.courant, s.annee, p.perimetre, s.famille_ess, s.regle_naf, p.exclusions_naf,
           CASE p.familles_cj
               WHEN 'defaut' THEN s.famille_cj_par_defaut
               WHEN 'toutes' THEN s.famille_cj IS NOT NULL
               ELSE FALSE
           END
           OR (p.unites_flag_o AND coalesce(s.ess_flag, FALSE)) AS candidat
    FROM situations AS s
    CROSS JOIN ref_perimetres AS p
)

SELECT siret, courant, annee, perimetre, candidat,
       CASE WHEN candidat AND exclusions_naf THEN regle_naf END AS motif_exclusion,
       candidat AND NOT (exclusions_naf AND regle_naf IS NOT NULL) AS inclus,
       CASE WHEN candidat AND NOT (exclusions_naf AND regle_naf IS NOT NULL) THEN famille_ess END AS famille_ess
FROM evaluations
