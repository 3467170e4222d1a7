-- The ok trials with the best cross-validated R², ties to the earlier trial: `promote --by cv`
-- takes the first. The honest choice: the test points played no part in it.
SELECT *
FROM scores
WHERE status = 'ok' AND cv_r2 IS NOT NULL
ORDER BY cv_r2 DESC, hyper_id
LIMIT ?
