-- Catalog view referentiel_territoires_epci: for every territory of a level other than the commune, the EPCI and the
-- département, the EPCI its communes belong to (referentiel_territoires read twice, joined on the commune): how many
-- of the territory's communes are in the EPCI, and whether the territory holds all of the EPCI's communes of the
-- département. Reference data only (no figure).
WITH epci AS (
    SELECT departement, millesime, code_commune, code_territoire AS siren_epci, libelle_territoire AS nom_epci,
           epci_partiel,
           count(*) OVER (PARTITION BY departement, millesime, code_territoire) AS nb_communes_epci
    FROM referentiel_territoires
    WHERE niveau = 'epci'
)
SELECT
    t.departement, t.millesime, t.niveau, t.code_territoire, t.libelle_territoire,
    e.siren_epci, e.nom_epci, e.epci_partiel,
    count(*) AS nb_communes_territoire_epci,
    count(*) = any_value(e.nb_communes_epci) AS epci_entier,
    any_value(t.donnees_synthetiques) AS donnees_synthetiques
FROM referentiel_territoires AS t
JOIN epci AS e ON e.departement = t.departement AND e.millesime = t.millesime AND e.code_commune = t.code_commune
WHERE t.niveau NOT IN ('commune', 'epci', 'departement')
GROUP BY t.departement, t.millesime, t.niveau, t.code_territoire, t.libelle_territoire, e.siren_epci, e.nom_epci,
         e.epci_partiel
