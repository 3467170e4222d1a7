-- Which of the given batches the scores hold: their pending trials are results now.
SELECT DISTINCT batch_id
FROM scores
WHERE list_contains($batch_ids, batch_id)
