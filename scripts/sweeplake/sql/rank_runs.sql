-- Every ok trial ranked by test R², overall and within its model, one dataset at a time.
-- R² = 1 - SSE/SST over the test points (and likewise over the train points), with SST taken
-- around the mean of those same points; RMSE, MAE and MAPE (percent, over the points whose
-- target is not 0) over the test points. A trial whose facts
-- do not cover every point of its dataset (an object skipped as unreadable, a null y_pred) is
-- left out. This is the audit of the per-trial scores (rank_scores.sql), from the facts.
-- From the out-of-fold predictions (table oof): cv_r2 and cv_r2_std, the mean and population
-- standard deviation over folds of each fold's R² (SST around that fold's mean), as
-- scikit-learn's cross_val_score gives them, and cv_oof_r2, R² of all of them pooled (SST
-- around the training mean); null for a trial run without CV or whose out-of-fold predictions
-- do not cover every training point (every one with a fold, on a time series).
WITH dataset_points AS (
  SELECT
    dataset,
    COUNT(*) AS points,
    COUNT(CASE WHEN is_train THEN 1 END) AS train_points,
    -- A time series' steps before its first validation window have no fold: never held out.
    COUNT(CASE WHEN is_train AND fold IS NOT NULL THEN 1 END) AS validated_points
  FROM data
  GROUP BY dataset
),
scored AS (
  SELECT
    p.hyper_id,
    d.is_train,
    d.y_true,
    p.y_pred,
    AVG(d.y_true) OVER (PARTITION BY p.hyper_id, d.is_train) AS y_mean
  FROM predict AS p
  JOIN hyperparams AS h
    ON h.hyper_id = p.hyper_id AND h.dt = p.dt
  JOIN data AS d
    ON d.dataset = h.dataset AND d.point_id = p.point_id
  WHERE h.status = 'ok' AND p.y_pred IS NOT NULL
),
metrics AS (
  SELECT
    hyper_id,
    SUM(CASE WHEN NOT is_train THEN (y_true - y_pred) * (y_true - y_pred) END) AS test_sse,
    SUM(CASE WHEN NOT is_train THEN (y_true - y_mean) * (y_true - y_mean) END) AS test_sst,
    SUM(CASE WHEN is_train THEN (y_true - y_pred) * (y_true - y_pred) END) AS train_sse,
    SUM(CASE WHEN is_train THEN (y_true - y_mean) * (y_true - y_mean) END) AS train_sst,
    AVG(CASE WHEN NOT is_train THEN ABS(y_true - y_pred) END) AS test_mae,
    AVG(CASE WHEN NOT is_train AND y_true <> 0 THEN ABS((y_true - y_pred) / y_true) END) * 100
      AS test_mape,
    COUNT(CASE WHEN NOT is_train THEN 1 END) AS test_points,
    COUNT(*) AS points
  FROM scored
  GROUP BY hyper_id
),
oof_scored AS (
  SELECT
    o.hyper_id,
    o.fold,
    d.y_true,
    o.y_pred,
    AVG(d.y_true) OVER (PARTITION BY o.hyper_id, o.fold) AS fold_mean,
    AVG(d.y_true) OVER (PARTITION BY o.hyper_id) AS train_mean
  FROM oof AS o
  JOIN hyperparams AS h
    ON h.hyper_id = o.hyper_id AND h.dt = o.dt
  JOIN data AS d
    ON d.dataset = h.dataset AND d.point_id = o.point_id
  WHERE h.status = 'ok' AND o.y_pred IS NOT NULL
),
folds AS (
  SELECT
    hyper_id,
    1 - SUM((y_true - y_pred) * (y_true - y_pred))
      / NULLIF(SUM((y_true - fold_mean) * (y_true - fold_mean)), 0) AS fold_r2,
    SUM((y_true - y_pred) * (y_true - y_pred)) AS sse,
    SUM((y_true - train_mean) * (y_true - train_mean)) AS sst,
    COUNT(*) AS points
  FROM oof_scored
  GROUP BY hyper_id, fold
),
cv AS (
  SELECT
    hyper_id,
    AVG(fold_r2) AS cv_r2,
    STDDEV_POP(fold_r2) AS cv_r2_std,
    1 - SUM(sse) / NULLIF(SUM(sst), 0) AS cv_oof_r2,
    SUM(points) AS points
  FROM folds
  GROUP BY hyper_id
),
trials AS (
  SELECT
    h.dataset,
    h.hyper_id,
    h.model,
    h.gamma,
    h.c,
    h.epsilon,
    h.n_estimators,
    h.max_depth,
    h.min_samples_split,
    h.min_samples_leaf,
    h.max_features,
    h.params,
    1 - m.test_sse / NULLIF(m.test_sst, 0) AS test_r2,
    1 - m.train_sse / NULLIF(m.train_sst, 0) AS train_r2,
    SQRT(m.test_sse / m.test_points) AS test_rmse,
    m.test_mae,
    m.test_mape,
    m.points,
    cv.cv_r2,
    cv.cv_r2_std,
    cv.cv_oof_r2,
    h.created_at
  FROM metrics AS m
  JOIN hyperparams AS h
    ON h.hyper_id = m.hyper_id
  JOIN dataset_points AS n
    ON n.dataset = h.dataset AND n.points = m.points
  LEFT JOIN cv
    ON cv.hyper_id = m.hyper_id AND cv.points IN (n.train_points, n.validated_points)
  WHERE h.status = 'ok'
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
  params,
  test_r2,
  train_r2,
  test_rmse,
  test_mae,
  test_mape,
  points,
  cv_r2,
  cv_r2_std,
  cv_oof_r2,
  RANK() OVER (PARTITION BY dataset ORDER BY cv_r2 DESC NULLS LAST) AS cv_rank,
  created_at
FROM trials
ORDER BY dataset, "rank", hyper_id
