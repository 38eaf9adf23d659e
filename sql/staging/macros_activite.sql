-- Macros shared by the SIRENE staging queries (loaded by sources/sirene.py after the reference tables
-- ref_formats_activite, ref_codes_activite and ref_tranches_codes): the check of an activity code against its
-- nomenclature, of a NAF 2025 code, then the checks every file shares. Each returns NULL for a valid (or empty)
-- value, else {motif, colonne, valeur} naming the file column.

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

-- The checks every SIRENE file shares, in the same {motif, colonne, valeur} form (NULL when the value passes): a
-- staging query lists its checks in order in a coalesce(), the first failing one being the row's reason.
-- A value too long for its column (a partially diffusible unit's value is not repeated: '[ND]').
CREATE OR REPLACE TEMP MACRO defaut_trop_long(colonne_lue, valeur_lue, diffusion) AS
    CASE WHEN colonne_lue IS NOT NULL
        THEN {'motif': 'valeur trop longue', 'colonne': colonne_lue,
              'valeur': CASE WHEN diffusion = 'P' THEN '[ND]' ELSE valeur_lue END} END;

-- An identifier that must be all digits of one length (`forme`: the pattern, e.g. '[0-9]{9}'); `requis`: whether an
-- empty value fails too.
CREATE OR REPLACE TEMP MACRO defaut_identifiant(valeur_lue, forme, requis, motif, colonne) AS
    CASE WHEN (valeur_lue IS NULL AND requis) OR NOT regexp_full_match(valeur_lue, forme)
        THEN {'motif': motif, 'colonne': colonne, 'valeur': valeur_lue} END;

-- A value present in the file that its type cannot read (a date, a year, a flag).
CREATE OR REPLACE TEMP MACRO defaut_illisible(texte, valeur_lue, motif, colonne) AS
    CASE WHEN texte IS NOT NULL AND valeur_lue IS NULL
        THEN {'motif': motif, 'colonne': colonne, 'valeur': texte} END;

-- A size band that is not a code of ref_tranches_codes.
CREATE OR REPLACE TEMP MACRO defaut_tranche(tranche_lue, colonne) AS
    CASE WHEN tranche_lue IS NOT NULL AND tranche_lue NOT IN (SELECT r.tranche FROM ref_tranches_codes AS r)
        THEN {'motif': 'tranche d''effectifs inconnue', 'colonne': colonne, 'valeur': tranche_lue} END;

-- The identifiers of an establishment: SIREN, NIC, SIRET of the right shapes, and the SIRET made of the two.
CREATE OR REPLACE TEMP MACRO defaut_siret(siren_lu, nic_lu, siret_lu) AS
    coalesce(defaut_identifiant(siren_lu, '[0-9]{9}', true, 'siren invalide', 'siren'),
             defaut_identifiant(nic_lu, '[0-9]{5}', true, 'nic invalide', 'nic'),
             defaut_identifiant(siret_lu, '[0-9]{14}', true, 'siret invalide', 'siret'),
             CASE WHEN siret_lu <> siren_lu || nic_lu
                 THEN {'motif': 'siret différent de siren + nic', 'colonne': 'siret', 'valeur': siret_lu} END);
