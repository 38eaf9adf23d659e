-- Interval macros shared by the core and output tables (created by transforms.employment.define_macros).
-- An employment estimate is a posterior mean c with variance v; its interval at level z (1.645 for 90 %) is taken
-- from the log-normal law with that mean and variance: positive, asymmetric (a sum of a few skewed headcounts is
-- skewed), and close to c ± z·√v when v is small. When the law is so skewed that its upper quantile falls below
-- its mean (tiny estimates of units that may or may not employ), the upper bound is c + z·√v instead, so that the
-- interval always holds the estimate. A share s with variance v: logit-normal (stays within [0, 1]).
-- A zero estimate with a positive variance gets [0, z·√v]; a zero variance gives the point itself.
-- A lower bound under one job is 0: the truth is a whole number of jobs, and none lies strictly between 0 and 1 (a
-- commune whose only ESS units may or may not employ, estimated at a few hundredths of a job, often has none: the
-- log-normal bound, positive, missed them all — benchmarks/coverage.py, METHOD § 3). A share whose numerator's
-- interval reaches 0 reaches 0 too (ic_part_bas_emploi).
CREATE OR REPLACE MACRO ic_sigma(c, v) AS sqrt(ln(1 + v / (c * c)));
CREATE OR REPLACE MACRO ic_bas(c, v, z) AS
    CASE WHEN c IS NULL OR v IS NULL THEN NULL
         WHEN v <= 0 THEN c
         WHEN c <= 0 THEN 0.0
         WHEN exp(ln(c) - ic_sigma(c, v) ^ 2 / 2 - z * ic_sigma(c, v)) < 1 THEN 0.0
         ELSE least(c, exp(ln(c) - ic_sigma(c, v) ^ 2 / 2 - z * ic_sigma(c, v))) END;
CREATE OR REPLACE MACRO ic_haut(c, v, z) AS
    CASE WHEN c IS NULL OR v IS NULL THEN NULL
         WHEN v <= 0 THEN c
         WHEN c <= 0 THEN z * sqrt(v)
         WHEN ic_sigma(c, v) > 2 * z THEN c + z * sqrt(v)
         ELSE exp(ln(c) - ic_sigma(c, v) ^ 2 / 2 + z * ic_sigma(c, v)) END;
CREATE OR REPLACE MACRO ic_part_bas(s, v, z) AS
    CASE WHEN s IS NULL OR v IS NULL THEN NULL
         WHEN v <= 0 THEN s
         WHEN s <= 0 THEN 0.0
         WHEN s >= 1 THEN greatest(1 - z * sqrt(v), 0.0)
         ELSE 1 / (1 + exp(-(ln(s / (1 - s)) - z * sqrt(v) / (s * (1 - s))))) END;
CREATE OR REPLACE MACRO ic_part_haut(s, v, z) AS
    CASE WHEN s IS NULL OR v IS NULL THEN NULL
         WHEN v <= 0 THEN s
         WHEN s <= 0 THEN least(z * sqrt(v), 1.0)
         WHEN s >= 1 THEN 1.0
         ELSE 1 / (1 + exp(-(ln(s / (1 - s)) + z * sqrt(v) / (s * (1 - s))))) END;
-- The lower bound of a share s (variance v) whose numerator is the employment c (variance vc): the row's employment
-- for its share of all employment, its part in URSSAF's field for its private share.
CREATE OR REPLACE MACRO ic_part_bas_emploi(s, v, z, c, vc) AS
    CASE WHEN s IS NOT NULL AND vc > 0 AND ic_bas(c, vc, z) = 0 THEN 0.0 ELSE ic_part_bas(s, v, z) END;
