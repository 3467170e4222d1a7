-- The leaderboard from the per-trial scores: every ok trial ranked by test R², overall and
-- within its model, one dataset at a time; equal scores in hyper_id order. A trial whose
-- predictions do not cover every point of its dataset is left out. `rank --audit` checks this
-- against rank_runs.sql, which computes the same from the facts. cv_rank ranks by cv_r2, the
-- cross-validated R² (null for trials run without CV, ranked last).
WITH dataset_points AS (
  SELECT dataset, COUNT(*) AS points
  FROM data
  GROUP BY dataset
),
trials AS (
  SELECT s.*
  FROM scores AS s
  JOIN dataset_points AS n
    ON n.dataset = s.dataset AND n.points = s.points
  WHERE s.status = 'ok'
)
SELECT
  RANK() OVER (PARTITION BY dataset ORDER BY test_r2 DESC NULLS LAST) AS "rank",
  RANK() OVER (PARTITION BY dataset, model ORDER BY test_r2 DESC NULLS LAST) AS model_rank,
  dataset,
  hyper_id,
  model,
  gamma,
  c,
  epsilon,
  n_estimators,
  max_depth,
  min_samples_split,
  min_samples_leaf,
  max_features,
  test_r2,
  train_r2,
  test_rmse,
  test_mae,
  points,
  cv_r2,
  cv_r2_std,
  cv_oof_r2,
  RANK() OVER (PARTITION BY dataset ORDER BY cv_r2 DESC NULLS LAST) AS cv_rank,
  created_at
FROM trials
ORDER BY dataset, "rank", hyper_id
