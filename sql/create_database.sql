-- The Glue database that holds sweeplake's three tables.
CREATE DATABASE IF NOT EXISTS `{{database}}`
