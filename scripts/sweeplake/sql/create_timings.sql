CREATE EXTERNAL TABLE IF NOT EXISTS `timings` (
  `batch_id` STRING,
  `host` STRING,
  `runner` STRING,
  `cold` BOOLEAN,
  `trials` BIGINT,
  `startup_ms` DOUBLE,
  `prepare_ms` DOUBLE,
  `fitting_ms` DOUBLE,
  `encode_ms` DOUBLE,
  `write_ms` DOUBLE,
  `fit_ms` DOUBLE,
  `predict_ms` DOUBLE,
  `cv_ms` DOUBLE,
  `wall_ms` DOUBLE,
  `cpu_ms` DOUBLE,
  `version` STRING
)
PARTITIONED BY (`dt` STRING)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
WITH SERDEPROPERTIES ('ignore.malformed.json' = 'true')
LOCATION '{{location}}/timings/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '{{first_day}},NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'storage.location.template' = '{{location}}/timings/dt=${dt}/'
)
