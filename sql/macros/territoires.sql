-- The territorial levels a commune's figures roll up to, as (niveau, code) pairs to unnest: the commune, its EPCI,
-- arrondissement, employment zone and territory (when the département defines territories), and the département.
CREATE OR REPLACE MACRO niveaux_territoriaux(commune, epci, arrondissement, zone_emploi, territoire, departement) AS [
    {'niveau': 'commune', 'code': commune},
    {'niveau': 'epci', 'code': epci},
    {'niveau': 'arrondissement', 'code': arrondissement},
    {'niveau': 'zone_emploi', 'code': zone_emploi},
    {'niveau': 'territoire', 'code': territoire},
    {'niveau': 'departement', 'code': departement}
];
