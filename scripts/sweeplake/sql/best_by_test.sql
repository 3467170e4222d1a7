-- The ok trials with the best test R², ties to the earlier trial: `promote --by test` takes the
-- first, the report lists them.
SELECT *
FROM scores
WHERE status = 'ok' AND test_r2 IS NOT NULL
ORDER BY test_r2 DESC, hyper_id
LIMIT ?
