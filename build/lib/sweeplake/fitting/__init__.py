"""Fitting trials: the unit of work, and the worker processes that run it."""
