CREATE EXTERNAL TABLE IF NOT EXISTS `data` (
  `dataset` STRING,
  `point_id` BIGINT,
  `is_train` BOOLEAN,
  `fold` BIGINT,
  `age` DOUBLE,
  `sex` DOUBLE,
  `bmi` DOUBLE,
  `bp` DOUBLE,
  `s1` DOUBLE,
  `s2` DOUBLE,
  `s3` DOUBLE,
  `s4` DOUBLE,
  `s5` DOUBLE,
  `s6` DOUBLE,
  `y_true` DOUBLE
)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
WITH SERDEPROPERTIES ('ignore.malformed.json' = 'true')
LOCATION '{{location}}/data/'
