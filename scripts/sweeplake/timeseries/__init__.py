"""Time-series datasets: features from each series' past alone, a split by time, and
forward-chaining folds, written as an ordinary dataset file that says it is a time series."""
