CREATE EXTERNAL TABLE IF NOT EXISTS `oof_parquet` (
  `hyper_id` STRING,
  `point_id` BIGINT,
  `fold` BIGINT,
  `y_pred` DOUBLE
)
PARTITIONED BY (`dt` STRING)
STORED AS PARQUET
LOCATION '{{location}}/oof_parquet/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '{{first_day}},NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'storage.location.template' = '{{location}}/oof_parquet/dt=${dt}/'
)
