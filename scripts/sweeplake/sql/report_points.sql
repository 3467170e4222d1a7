-- The ok trials of one model a scatter plot draws: its best 2,000 by test R² and a sample of
-- 20,000 (those whose hyper_id hashes lowest: the same trials from one report to the next),
-- never a million rows; `total` is how many ok trials with a test R² the model has.
WITH mine AS (
  SELECT *
  FROM scores
  WHERE model = $model AND status = 'ok' AND test_r2 IS NOT NULL
),
best AS (
  SELECT hyper_id FROM mine ORDER BY test_r2 DESC, hyper_id LIMIT 2000
),
sampled AS (
  SELECT hyper_id FROM mine ORDER BY HASH(hyper_id), hyper_id LIMIT 20000
)
SELECT
  m.*,
  (SELECT COUNT(*) FROM mine) AS total
FROM mine AS m
WHERE m.hyper_id IN (SELECT hyper_id FROM best UNION SELECT hyper_id FROM sampled)
ORDER BY m.test_r2, m.hyper_id
