CREATE EXTERNAL TABLE IF NOT EXISTS `predict` (
  `hyper_id` STRING,
  `point_id` BIGINT,
  `y_pred` DOUBLE
)
PARTITIONED BY (`dt` STRING)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
WITH SERDEPROPERTIES ('ignore.malformed.json' = 'true')
LOCATION '{{location}}/fact/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '{{first_day}},NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'storage.location.template' = '{{location}}/fact/dt=${dt}/'
)
