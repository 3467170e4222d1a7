"""sweeplake: hyperparameter sweeps into a JSON data lake, ranked with SQL."""

__version__ = "0.1.0"
