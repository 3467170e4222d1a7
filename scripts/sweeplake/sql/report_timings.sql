-- Where a batch's time goes: the mean of each phase per runner and kind of start, in ms.
SELECT
  runner,
  cold,
  count(*) AS batches,
  avg(trials) AS trials,
  avg(startup_ms) AS startup_ms,
  avg(prepare_ms) AS prepare_ms,
  avg(fitting_ms) AS fitting_ms,
  avg(encode_ms) AS encode_ms,
  avg(write_ms) AS write_ms,
  avg(wall_ms) AS wall_ms,
  avg(cpu_ms) AS cpu_ms,
  avg(fit_ms) AS fit_ms,
  avg(predict_ms) AS predict_ms,
  avg(cv_ms) AS cv_ms
FROM timings
GROUP BY runner, cold
ORDER BY runner, cold
