CREATE OR REPLACE VIEW all_scores AS
SELECT * FROM scores_daily WHERE dt <= '{{compacted_through}}'
UNION ALL
SELECT * FROM scores WHERE dt > '{{compacted_through}}'
