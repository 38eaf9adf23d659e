-- Catalog view <table>: the latest millésime published for each département ({groupes}: departement, and
-- perimetre for tables published one perimeter at a time), so that two monthly runs never count a territory twice.
WITH toutes_les_lignes AS (
    SELECT * FROM {historique}
)
SELECT *
FROM toutes_les_lignes
QUALIFY millesime = max(millesime) OVER (PARTITION BY {groupes})
