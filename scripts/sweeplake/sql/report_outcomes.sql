-- Trials that ended ok, pruned (stopped between folds by `run --prune`) and failed, per day and
-- per host.
SELECT
  dt,
  host,
  SUM(CASE WHEN status = 'ok' THEN 1 ELSE 0 END) AS ok,
  SUM(CASE WHEN status = 'pruned' THEN 1 ELSE 0 END) AS pruned,
  SUM(CASE WHEN status IN ('ok', 'pruned') THEN 0 ELSE 1 END) AS failed
FROM scores
GROUP BY dt, host
ORDER BY dt, host
