CREATE EXTERNAL TABLE IF NOT EXISTS `scores` (
  `hyper_id` STRING,
  `model` STRING,
  `gamma` DOUBLE,
  `c` DOUBLE,
  `epsilon` DOUBLE,
  `n_estimators` BIGINT,
  `max_depth` BIGINT,
  `min_samples_split` BIGINT,
  `min_samples_leaf` BIGINT,
  `max_features` DOUBLE,
  `params` STRING,
  `status` STRING,
  `error` STRING,
  `dataset` STRING,
  `dataset_sha256` STRING,
  `sampler` STRING,
  `space_sha256` STRING,
  `history` BIGINT,
  `seed` BIGINT,
  `batch_id` STRING,
  `created_at` STRING,
  `fit_ms` DOUBLE,
  `predict_ms` DOUBLE,
  `cv_ms` DOUBLE,
  `host` STRING,
  `version` STRING,
  `test_r2` DOUBLE,
  `train_r2` DOUBLE,
  `test_rmse` DOUBLE,
  `test_mae` DOUBLE,
  `test_mape` DOUBLE,
  `points` BIGINT,
  `cv_r2` DOUBLE,
  `cv_r2_std` DOUBLE,
  `cv_oof_r2` DOUBLE,
  `cv_fold_r2` STRING
)
PARTITIONED BY (`dt` STRING)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
WITH SERDEPROPERTIES ('ignore.malformed.json' = 'true')
LOCATION '{{location}}/scores/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '{{first_day}},NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'storage.location.template' = '{{location}}/scores/dt=${dt}/'
)
