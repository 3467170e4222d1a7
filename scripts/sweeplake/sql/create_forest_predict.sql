CREATE OR REPLACE VIEW forest_predict AS
-- A forest grown as groves (run --groves): each point's prediction is the mean of its groves',
-- each weighted by its trees, which is what one forest of all their trees predicts. A null
-- fold is the forest fitted on every training point; fold k, its out-of-fold prediction.
SELECT
  hyper_id,
  point_id,
  fold,
  SUM(trees * y_pred) / SUM(trees) AS y_pred,
  COUNT(*) AS groves,
  SUM(trees) AS trees
FROM grove
GROUP BY hyper_id, point_id, fold
