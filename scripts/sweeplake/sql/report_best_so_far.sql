-- The best test R² of each model so far, at each trial that raised it and at the model's last
-- trial: all a step plot of the best so far needs, however many trials the lake holds. n counts
-- the model's scored trials up to and including that one, oldest first.
WITH scored AS (
  SELECT
    model,
    created_at,
    ROW_NUMBER() OVER so_far AS n,
    MAX(test_r2) OVER so_far AS best
  FROM scores
  WHERE test_r2 IS NOT NULL
  WINDOW so_far AS (PARTITION BY model ORDER BY created_at, hyper_id ROWS UNBOUNDED PRECEDING)
),
marked AS (
  SELECT
    *,
    LAG(best) OVER (PARTITION BY model ORDER BY n) AS before,
    MAX(n) OVER (PARTITION BY model) AS last
  FROM scored
)
SELECT model, created_at, n, best
FROM marked
WHERE before IS NULL OR best > before OR n = last
ORDER BY model, n
