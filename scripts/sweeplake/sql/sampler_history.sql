-- What a model-based sampler learns from: the scored trials of one dataset, model and search
-- space, from every machine. A trial counts when it failed or has its cv_r2 (one run without
-- cross-validation has none); a pruned trial counts with the cv_r2 of the folds it got
-- (cv_fold_r2 says how many). The best trials by cv_r2 and the most recent ones, oldest first;
-- `seen` is how many trials the whole history holds.
WITH history AS (
  SELECT *
  FROM scores
  WHERE dataset_sha256 = $dataset_sha256
    AND model = $model
    AND space_sha256 = $space_sha256
    AND (status = 'failed' OR (status IN ('ok', 'pruned') AND cv_r2 IS NOT NULL))
),
best AS (
  SELECT hyper_id FROM history WHERE status = 'ok' ORDER BY cv_r2 DESC, hyper_id LIMIT $best
),
recent AS (
  SELECT hyper_id FROM history ORDER BY hyper_id DESC LIMIT $recent
)
SELECT
  h.status,
  h.cv_r2,
  h.cv_fold_r2,
  h.gamma,
  h.c,
  h.epsilon,
  h.n_estimators,
  h.max_depth,
  h.min_samples_split,
  h.min_samples_leaf,
  h.max_features,
  h.params,
  (SELECT count(*) FROM history) AS seen
FROM history AS h
WHERE h.hyper_id IN (SELECT hyper_id FROM best UNION ALL SELECT hyper_id FROM recent)
ORDER BY h.hyper_id
