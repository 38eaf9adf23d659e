-- Macros shared by the SIRENE staging queries (loaded by sources/sirene.py after the reference tables
-- ref_formats_activite and ref_codes_activite): the check of an activity code against its nomenclature, and of a
-- NAF 2025 code. Each returns NULL for a valid (or empty) code, else {motif, colonne, valeur} naming the file column.

-- The shape of an activity code: a digit reads 9, a capital letter A ('94.99Z' -> '99.99A').
CREATE OR REPLACE TEMP MACRO forme_activite(code_texte) AS
    regexp_replace(regexp_replace(code_texte, '[0-9]', '9', 'g'), '[A-Z]', 'A', 'g');

-- (parameter names unlike any column of the reference tables, so that the subqueries read them unambiguously)
CREATE OR REPLACE TEMP MACRO defaut_activite(code_lu, nomenclature_lue, colonne_code, colonne_nomenclature) AS
    CASE
        WHEN nomenclature_lue IS NOT NULL
             AND nomenclature_lue NOT IN (SELECT r.nomenclature FROM ref_formats_activite AS r)
            THEN {'motif': 'nomenclature d''activité inconnue', 'colonne': colonne_nomenclature,
                  'valeur': nomenclature_lue}
        -- a code without a nomenclature must have the shape of one of them
        WHEN code_lu IS NOT NULL AND NOT EXISTS (
                 SELECT 1 FROM ref_formats_activite AS f
                 WHERE f.forme = forme_activite(code_lu) AND f.nomenclature = coalesce(nomenclature_lue, f.nomenclature))
            THEN {'motif': 'code d''activité mal formé', 'colonne': colonne_code, 'valeur': code_lu}
        WHEN code_lu IS NOT NULL
             AND nomenclature_lue IN (SELECT r.nomenclature FROM ref_formats_activite AS r WHERE r.liste_fermee)
             AND NOT EXISTS (SELECT 1 FROM ref_codes_activite AS c
                             WHERE c.nomenclature = nomenclature_lue AND c.code = code_lu)
            THEN {'motif': 'code d''activité inconnu de la nomenclature', 'colonne': colonne_code, 'valeur': code_lu}
    END;

CREATE OR REPLACE TEMP MACRO defaut_naf25(code_lu, colonne_code) AS
    CASE
        WHEN code_lu IS NOT NULL AND forme_activite(code_lu) NOT IN
                 (SELECT r.forme FROM ref_formats_activite AS r WHERE r.nomenclature = 'NAF2025')
            THEN {'motif': 'code d''activité mal formé', 'colonne': colonne_code, 'valeur': code_lu}
    END;
