-- core_etablissements: one row per establishment of the département's current stock (active or closed), with the
-- calibrated central employment of transforms/calibration.py (core_effectifs_calibres). Establishments the
-- calibration did not touch (closed, outside the URSSAF field, group without target) keep their raw central value;
-- statut_calibration says which case applies.
SELECT p.* EXCLUDE (denomination, enseigne),
       coalesce(c.effectif_central, p.effectif_central_brut) AS effectif_central,
       c.groupe_calibration,
       coalesce(c.statut_calibration, 'non_calibre') AS statut_calibration,
       p.denomination, p.enseigne
FROM core_etablissements_prep AS p
LEFT JOIN core_effectifs_calibres AS c USING (siret)
