-- Published table urssaf_ess_departement: URSSAF's ESS file for the run's département as the run read it
-- (staging_urssaf_ess_departement, the partition of the département): per year, each ESS family and the rest of
-- URSSAF's private field (« hors ESS »), with the establishments, the year's average salaried headcount and the wage
-- bill as URSSAF published them (NULL: not published, never 0), and the average annual wage they give (wage bill /
-- average headcount; a part-time job counts as one). Public figures: no secrecy applies. The report's page on URSSAF
-- shows these rows (reports/urssaf_compare.py; the ESS total there is the file's own, or the sum of the four
-- families when all four are published).
-- Parameters: none.
SELECT annee, champ_ess, famille_ess, nb_etablissements, effectifs_salaries, masse_salariale,
       CASE WHEN effectifs_salaries > 0 THEN masse_salariale / effectifs_salaries END AS salaire_moyen_annuel
FROM staging_urssaf_ess_departement
ORDER BY annee, champ_ess, famille_ess
