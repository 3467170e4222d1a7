-- How long fits took, per model, as counts in 40 log-spaced bins shared by every model: from
-- the shortest positive fit_ms to just past the longest (lo and hi are their logarithms).
WITH timed AS (
  SELECT model, fit_ms FROM scores WHERE fit_ms > 0
),
span AS (
  SELECT LN(MIN(fit_ms)) AS lo, LN(MAX(fit_ms) * 1.01) AS hi FROM timed
)
SELECT
  t.model,
  LEAST(FLOOR((LN(t.fit_ms) - s.lo) / (s.hi - s.lo) * 40), 39) AS bin,
  COUNT(*) AS trials,
  s.lo,
  s.hi
FROM timed AS t
CROSS JOIN span AS s
GROUP BY t.model, 2, s.lo, s.hi
ORDER BY t.model, bin
