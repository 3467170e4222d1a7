-- What pruning compares a trial's first folds with: each fold's R² of the most recent ok
-- trials of one dataset, model and search space, from every machine (survivors all: an ok
-- trial got every fold). Newest first.
SELECT cv_fold_r2
FROM scores
WHERE dataset_sha256 = $dataset_sha256
  AND model = $model
  AND space_sha256 = $space_sha256
  AND status = 'ok'
  AND cv_fold_r2 IS NOT NULL
ORDER BY hyper_id DESC
LIMIT $recent
