CREATE EXTERNAL TABLE IF NOT EXISTS `predict_parquet` (
  `hyper_id` STRING,
  `point_id` BIGINT,
  `y_pred` DOUBLE
)
PARTITIONED BY (`dt` STRING)
STORED AS PARQUET
LOCATION '{{location}}/fact_parquet/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '{{first_day}},NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'storage.location.template' = '{{location}}/fact_parquet/dt=${dt}/'
)
