"""Query engines that run the statements in sql/: DuckDB embedded, or Athena."""
