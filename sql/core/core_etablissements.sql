-- core_etablissements: one row per establishment of the département's current stock (active or closed), with its
-- estimated salaried employment on 31 December of the employment year Y ($annee_effectifs; transforms/employment.py,
-- core_effectifs): the posterior mean (effectif_central, 0 when the establishment was not open on 31/12/Y), its
-- individual 90 % interval (the cell term of the posterior variance; the département-wide family term is left
-- out, so individual intervals are slightly wide), the prior mean, and how it was calibrated.
-- Parameters: $annee_effectifs, $z.
WITH annee AS (
    SELECT * FROM core_effectifs WHERE annee = $annee_effectifs
),

individuel AS (
    SELECT siret, effectif_central, effectif_a_priori, classe_modele, cellule_calage, statut_calage,
           greatest(variance_a_priori - CASE WHEN denominateur_calage > 0
                                             THEN variance_a_priori * variance_a_priori / denominateur_calage
                                             ELSE 0 END, 0) AS variance
    FROM annee
)

SELECT p.* EXCLUDE (denomination, enseigne),
       CAST($annee_effectifs AS INTEGER) AS annee_effectif_estime,
       i.siret IS NOT NULL AS actif_fin_annee_effectif,
       coalesce(i.effectif_central, 0) AS effectif_central,
       coalesce(ic_bas(i.effectif_central, i.variance, $z), 0) AS effectif_ic90_bas,
       coalesce(ic_haut(i.effectif_central, i.variance, $z), 0) AS effectif_ic90_haut,
       coalesce(i.effectif_a_priori, 0) AS effectif_a_priori,
       i.classe_modele, i.cellule_calage,
       coalesce(i.statut_calage, 'ferme_fin_annee_effectif') AS statut_calage,
       p.denomination, p.enseigne
FROM core_etablissements_prep AS p
LEFT JOIN individuel AS i USING (siret)
