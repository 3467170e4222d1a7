"""Spark: trials as Spark tasks (runner.py), and the session they run in (session.py)."""
