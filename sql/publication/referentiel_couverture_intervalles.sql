-- Published reference table referentiel_couverture_intervalles: how often the published 90 % intervals held the truth,
-- measured on synthetic worlds whose truth does not share the estimator's assumptions (benchmarks/coverage.py,
-- summarised by benchmarks/coverage_reference.py into couverture_intervalles.csv of the run's reference folder,
-- ref_couverture_intervalles), one row per indicator, level (the département's, or each territory of a level below
-- it), scope and kind of world, with the interval's nominal level (niveau_intervalle of emploi_modele.csv) beside
-- it: an analyst reads what « 90 % » was designed for and what it did.
-- Parameters: none.
SELECT
    c.indicateur,
    c.libelle_indicateur,
    c.colonnes_mesurees,
    c.niveau,
    c.perimetre,
    c.portee,
    c.annee_debut,
    c.annee_fin,
    c.cellules,
    c.cellules_couvertes,
    c.cellules_couvertes / c.cellules AS couverture_mesuree,
    c.cellules_vrai_nul,
    c.cellules_vrai_nul_couvertes,
    -- what the interval did where it had something to hold: the cells whose truth is 0 left out (NULL when none other)
    (c.cellules_couvertes - c.cellules_vrai_nul_couvertes) / nullif(c.cellules - c.cellules_vrai_nul, 0)
        AS couverture_mesuree_vrai_non_nul,
    c.couverture_ic90_bas,
    c.couverture_ic90_haut,
    m.valeur AS couverture_nominale,
    c.biais_relatif_moyen,
    c.demi_largeur_relative_mediane,
    c.version_generateur,
    c.premiere_graine,
    c.nb_graines,
    c.echelle_echantillon,
    c.exceptions_champ_urssaf,
    CAST(c.date_mesure AS DATE) AS date_mesure,
    c.commande_mesure
FROM ref_couverture_intervalles AS c
LEFT JOIN ref_emploi_modele AS m ON m.parametre = 'niveau_intervalle'
