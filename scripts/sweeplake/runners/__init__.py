"""Ways to run a batch other than the command line: Lambda."""
