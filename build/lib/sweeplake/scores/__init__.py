"""Per-trial scores: computed once per batch by the job, read by every consumer of the lake."""
