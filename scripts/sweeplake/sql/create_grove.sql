CREATE EXTERNAL TABLE IF NOT EXISTS `grove` (
  `hyper_id` STRING,
  `grove` BIGINT,
  `trees` BIGINT,
  `point_id` BIGINT,
  `fold` BIGINT,
  `y_pred` DOUBLE
)
PARTITIONED BY (`dt` STRING)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
WITH SERDEPROPERTIES ('ignore.malformed.json' = 'true')
LOCATION '{{location}}/grove/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '{{first_day}},NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'storage.location.template' = '{{location}}/grove/dt=${dt}/'
)
