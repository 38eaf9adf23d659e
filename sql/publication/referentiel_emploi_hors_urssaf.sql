-- Published reference table referentiel_emploi_hors_urssaf: the employment URSSAF's field rule keeps in but URSSAF
-- does not see, as the run read it (emploi_hors_urssaf.csv of its reference folder, ref_emploi_hors_urssaf), one row
-- per rule: employers under the MSA by their object (Code rural, art. L722-20). An establishment in URSSAF's field
-- whose legal form begins with one of the rule's legal-form prefixes and whose activity code begins with one of its
-- activity prefixes (core_effectifs_entrees; the file's check lets one rule at most match) gets, on top of its
-- employment calibrated on URSSAF's, an estimate of the share s of its employment under the MSA, s uniform between
-- part_hors_urssaf_min and part_hors_urssaf_max (transforms/employment.py, unseen_employment). Prefixes as lists;
-- beside them, each prefix with its label (INSEE's legal forms of its level: 1, 2 or 4 digits; NAF rév. 2's code of
-- its level).
-- Parameters: none.
WITH formes AS (
    SELECT regle, unnest(string_split(categories_juridiques, ' ')) AS prefixe,
           generate_subscripts(string_split(categories_juridiques, ' '), 1) AS rang
    FROM ref_emploi_hors_urssaf
),
activites AS (
    SELECT regle, unnest(string_split(activites, ' ')) AS prefixe,
           generate_subscripts(string_split(activites, ' '), 1) AS rang
    FROM ref_emploi_hors_urssaf
),
libelles_naf AS (
    SELECT code, min(libelle) AS libelle
    FROM (SELECT code_division AS code, libelle_division AS libelle FROM ref_naf_rev2
          UNION ALL SELECT code_groupe, libelle_groupe FROM ref_naf_rev2
          UNION ALL SELECT code_classe, libelle_classe FROM ref_naf_rev2
          UNION ALL SELECT code, libelle FROM ref_naf_rev2)
    GROUP BY code
),
formes_libelles AS (
    SELECT f.regle,
           string_agg(f.prefixe || coalesce(' : ' || coalesce(n.libelle, cj.libelle), ''), ' ; ' ORDER BY f.rang)
               AS libelle_formes
    FROM formes AS f
    LEFT JOIN ref_categories_juridiques_niveaux AS n
      ON n.niveau = CAST(length(f.prefixe) AS VARCHAR) AND n.code = f.prefixe
    LEFT JOIN ref_categories_juridiques AS cj ON length(f.prefixe) = 4 AND cj.code = f.prefixe
    GROUP BY f.regle
),
activites_libelles AS (
    SELECT a.regle,
           string_agg(a.prefixe || coalesce(' : ' || n.libelle, ''), ' ; ' ORDER BY a.rang) AS libelle_activites
    FROM activites AS a
    LEFT JOIN libelles_naf AS n ON n.code = a.prefixe
    GROUP BY a.regle
)
SELECT
    r.regle AS regle_hors_urssaf,
    string_split(r.categories_juridiques, ' ') AS prefixes_categorie_juridique,
    fl.libelle_formes AS libelle_prefixes_categorie_juridique,
    string_split(r.activites, ' ') AS prefixes_activite,
    al.libelle_activites AS libelle_prefixes_activite,
    r.part_min AS part_hors_urssaf_min,
    r.part_max AS part_hors_urssaf_max,
    r.source AS sources_part_hors_urssaf,
    r.commentaire
FROM ref_emploi_hors_urssaf AS r
LEFT JOIN formes_libelles AS fl USING (regle)
LEFT JOIN activites_libelles AS al USING (regle)
