-- The leaderboard's first $within trials of each dataset, in the order `rank` shows them: by
-- test R² ($by = 'test', "rank") or by cross-validated R² ($by = 'cv', cv_rank), equal scores
-- in hyper_id order. The rows and columns rank_scores.sql gives, with the same three ranks;
-- DuckDB only (the scores engine runs it for `rank --limit N`; Athena runs rank_scores.sql).
-- rank_scores.sql sorts every trial three times for its windows, seconds on a million; here
-- each rank is counted, not sorted, for those $within trials alone: a trial's rank is one more
-- than the trials of its partition ordered before it (a higher score, or a score where it has
-- none: NULLS LAST). They are found among the trials scoring at least the $within-th best
-- score of their dataset (max(x, n): the n largest, without a sort); where a tie makes those
-- many, the first $within by hyper_id, so that the counting stays $within times the trials.
WITH dataset_points AS (
  SELECT dataset, COUNT(*) AS points
  FROM data
  GROUP BY dataset
),
ok AS (
  SELECT
    s.hyper_id,
    s.dataset,
    s.model,
    s.test_r2,
    s.cv_r2,
    CASE WHEN $by = 'cv' THEN s.cv_r2 ELSE s.test_r2 END AS score
  FROM all_scores AS s
  JOIN dataset_points AS n
    ON n.dataset = s.dataset AND n.points = s.points
  WHERE s.status = 'ok'
),
bars AS (
  SELECT dataset, list_min(max(coalesce(score, -CAST('Infinity' AS DOUBLE)), $within)) AS bar
  FROM ok
  GROUP BY dataset
),
above_bar AS (
  SELECT
    o.*,
    ROW_NUMBER() OVER (PARTITION BY o.dataset ORDER BY o.score DESC NULLS LAST, o.hyper_id) AS n
  FROM ok AS o
  JOIN bars AS b
    ON b.dataset = o.dataset AND coalesce(o.score, -CAST('Infinity' AS DOUBLE)) >= b.bar
),
candidates AS (
  SELECT * FROM above_bar WHERE n <= $within
),
ranked AS (
  SELECT
    c.hyper_id,
    1 + COUNT(*) FILTER (
      WHERE o.test_r2 > c.test_r2 OR (c.test_r2 IS NULL AND o.test_r2 IS NOT NULL)
    ) AS "rank",
    1 + COUNT(*) FILTER (
      WHERE o.model = c.model
        AND (o.test_r2 > c.test_r2 OR (c.test_r2 IS NULL AND o.test_r2 IS NOT NULL))
    ) AS model_rank,
    1 + COUNT(*) FILTER (
      WHERE o.cv_r2 > c.cv_r2 OR (c.cv_r2 IS NULL AND o.cv_r2 IS NOT NULL)
    ) AS cv_rank
  FROM candidates AS c
  JOIN ok AS o
    ON o.dataset = c.dataset
  GROUP BY c.hyper_id
)
SELECT
  r."rank",
  r.model_rank,
  s.dataset,
  s.hyper_id,
  s.model,
  s.gamma,
  s.c,
  s.epsilon,
  s.n_estimators,
  s.max_depth,
  s.min_samples_split,
  s.min_samples_leaf,
  s.max_features,
  s.params,
  s.test_r2,
  s.train_r2,
  s.test_rmse,
  s.test_mae,
  s.test_mape,
  s.points,
  s.cv_r2,
  s.cv_r2_std,
  s.cv_oof_r2,
  r.cv_rank,
  s.created_at
FROM ranked AS r
JOIN all_scores AS s
  ON s.hyper_id = r.hyper_id
ORDER BY s.dataset, r."rank", s.hyper_id
