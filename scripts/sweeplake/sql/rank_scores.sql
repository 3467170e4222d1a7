-- The leaderboard from the per-trial scores: every ok trial ranked by test R², overall and
-- within its model, one dataset at a time; equal scores in hyper_id order. A trial whose
-- predictions do not cover every point of its dataset is left out. all_scores is, on Athena,
-- the view of the days compacted to Parquet plus the per-batch objects since (see
-- create_all_scores.sql); in DuckDB, the local scores cache. `rank --audit` checks this
-- against rank_runs.sql, which computes the same from the facts. The ranks are computed on
-- the few columns they need and joined back: a window over every column of a million trials
-- costs seconds. cv_rank ranks by cv_r2, the cross-validated R² (null for trials run without
-- CV, ranked last).
WITH dataset_points AS (
  SELECT dataset, COUNT(*) AS points
  FROM data
  GROUP BY dataset
),
ranked AS (
  SELECT
    s.hyper_id,
    RANK() OVER (PARTITION BY s.dataset ORDER BY s.test_r2 DESC NULLS LAST) AS "rank",
    RANK() OVER (PARTITION BY s.dataset, s.model ORDER BY s.test_r2 DESC NULLS LAST) AS model_rank,
    RANK() OVER (PARTITION BY s.dataset ORDER BY s.cv_r2 DESC NULLS LAST) AS cv_rank
  FROM all_scores AS s
  JOIN dataset_points AS n
    ON n.dataset = s.dataset AND n.points = s.points
  WHERE s.status = 'ok'
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
