-- How many trials of one dataset, model and search space a model-based sampler learns from:
-- sampler_history.sql's `seen`, alone, to decide whether a start fits in rounds.
SELECT count(*) AS seen
FROM scores
WHERE dataset_sha256 = $dataset_sha256
  AND model = $model
  AND space_sha256 = $space_sha256
  AND (status = 'failed' OR (status IN ('ok', 'pruned') AND cv_r2 IS NOT NULL))
