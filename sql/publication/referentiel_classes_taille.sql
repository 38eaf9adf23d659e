-- Published reference table referentiel_classes_taille: the cube's size classes (classes_taille.csv of the run's
-- reference folder) and the SIRENE size bands each groups (tranches_effectifs.csv), one row per band — and one row
-- without a band for a class that has none (« ensemble »). The band VIDE (an empty field in SIRENE) is published as
-- a NULL band.
-- Parameters: none.
SELECT
    coalesce(c.classe_taille, t.classe_taille) AS classe_taille,
    c.libelle AS libelle_classe_taille,
    c.ordre AS ordre_classe_taille,
    CASE WHEN t.tranche <> 'VIDE' THEN t.tranche END AS tranche_effectifs,
    t.libelle AS libelle_tranche_effectifs,
    t.effectif_bas AS effectif_tranche_bas,
    t.effectif_haut AS effectif_tranche_haut,
    t.employeur AS tranche_employeur
FROM ref_classes_taille AS c
FULL JOIN ref_tranches_effectifs AS t ON t.classe_taille = c.classe_taille
