-- Trials that ended ok and failed, per day and per host.
SELECT
  dt,
  host,
  SUM(CASE WHEN status = 'ok' THEN 1 ELSE 0 END) AS ok,
  SUM(CASE WHEN status = 'ok' THEN 0 ELSE 1 END) AS failed
FROM scores
GROUP BY dt, host
ORDER BY dt, host
