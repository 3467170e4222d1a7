-- Every trial's scores line, oldest first: the report's history, slices and fit times.
SELECT *
FROM scores
ORDER BY created_at, hyper_id
