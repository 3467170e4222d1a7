-- One trial's scores line, named by its hyper_id: the trial `promote --hyper-id` takes.
SELECT *
FROM scores
WHERE hyper_id = ?
