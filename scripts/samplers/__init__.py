"""The search space and the samplers that draw trials from it."""
