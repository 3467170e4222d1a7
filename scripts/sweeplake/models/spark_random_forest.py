"""Random forests fitted by Spark (pyspark.ml's RandomForestRegressor) on the whole dataset.

The dataset becomes a Spark DataFrame and each trial (its full fit, and one fit per fold with
CV) is a Spark job over it: the data never enters the driver's Python process, so a dataset
larger than any one machine can be swept (sweeplake.spark.frames runs such a family's batches).
pyspark is the `spark` extra; it is imported when a trial is built, never at module level.
"""

from __future__ import annotations

from sweeplake.models.family import ModelFamily


class SparkRandomForestFamily(ModelFamily):
    name = "spark_random_forest"
    title = "random forest (Spark MLlib)"
    space = {
        "num_trees": {"type": "int", "low": 5, "high": 100, "log": True, "valid": "[1, 2000]"},
        # Spark's trees are at most 30 levels deep.
        "max_depth": {"type": "int", "low": 2, "high": 12, "log": False, "valid": "[0, 30]"},
        "max_bins": {"type": "int", "low": 16, "high": 64, "log": True, "valid": "[2, 100000]"},
        "min_instances_per_node": {
            "type": "int",
            "low": 1,
            "high": 20,
            "log": False,
            "valid": "[1, 100000]",
        },
        "subsampling_rate": {
            "type": "float",
            "low": 0.5,
            "high": 1.0,
            "log": False,
            "valid": "(0, 1]",
        },
        "feature_subset_strategy": {
            "type": "categorical",
            "choices": ["auto", "all", "onethird", "sqrt", "log2"],
        },
    }
    libraries = ("pyspark", "numpy")
    on_spark = True
    score_map = ("num_trees", "max_depth")
    labels = {
        "num_trees": "trees",
        "max_depth": "max depth (levels)",
        "max_bins": "bins per continuous feature",
        "min_instances_per_node": "min points per child node",
        "subsampling_rate": "share of the training points per tree",
    }

    def build(self, params: dict, seed: int):
        from pyspark.ml.regression import RandomForestRegressor

        return RandomForestRegressor(
            numTrees=params["num_trees"],
            maxDepth=params["max_depth"],
            maxBins=params["max_bins"],
            minInstancesPerNode=params["min_instances_per_node"],
            subsamplingRate=params["subsampling_rate"],
            featureSubsetStrategy=params["feature_subset_strategy"],
            seed=seed,
        )


FAMILY = SparkRandomForestFamily()
