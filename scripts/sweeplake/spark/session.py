"""The SparkSession a Spark run uses: the one already running in this process, or a new one.

pyspark is an optional dependency (the `spark` extra): only `run --runner spark` imports it, so
a machine without it runs everything else and is told, in one line, what to install.
"""

from __future__ import annotations

import logging
import os
import sys
from contextlib import contextmanager

from sweeplake.errors import BadInput, SparkFailed

DEFAULT_MASTER = "local[*]"
APP_NAME = "sweeplake"


def spark_session(master: str | None = None, needed_by: str = "--runner spark"):
    """A session on the SparkContext this process already runs (spark-submit, a notebook, the
    tests' fixture), else a new one on `master` (default local[*]); `master` given while
    Spark already runs on another is refused rather than silently ignored."""
    try:
        from pyspark import SparkContext
        from pyspark.sql import SparkSession
    except ImportError:
        raise BadInput(
            f"{needed_by} needs pyspark: pip install 'sweeplake[spark]' (and a JDK 17)"
        ) from None
    # py4j logs each connection of each driver thread at INFO: noise in a cron log. When the
    # JVM dies it logs the broken connection's traceback to the root logger, at INFO or ERROR,
    # then raises: the raised error is what sweeplake reports, in one line. Both dropped.
    logging.getLogger("py4j").setLevel(logging.WARNING)
    if not any(isinstance(f, Py4JChatter) for f in logging.getLogger().filters):
        logging.getLogger().addFilter(Py4JChatter())
    running = SparkContext._active_spark_context  # any thread's, as spark-submit leaves it
    if running is not None:
        if master is not None and master != running.master:
            raise BadInput(
                f"--spark-master {master!r:.80}: this process already runs Spark on "
                f"{running.master}; leave the flag out to use it"
            )
        return SparkSession.builder.getOrCreate()
    # The executors' Python workers run this interpreter, where sweeplake is installed.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    try:
        from pyspark import SparkConf

        builder = SparkSession.builder.appName(APP_NAME)
        # Under spark-submit the master is set already (--master yarn): that one stands. The
        # JVM (spark-submit's, or a new one) must run for SparkConf to read its settings.
        SparkContext._ensure_initialized()
        if master is not None or not SparkConf().contains("spark.master"):
            builder = builder.master(master or DEFAULT_MASTER).config("spark.ui.enabled", "false")
        session = builder.config("spark.ui.showConsoleProgress", "false").getOrCreate()
    except Exception as exc:  # the JVM did not start, or the master URL is not one
        first = next((ln for ln in str(exc).splitlines() if ln.strip()), type(exc).__name__)
        raise BadInput(f"cannot start Spark on {master or DEFAULT_MASTER}: {first[:200]}") from None
    session.sparkContext.setLogLevel("WARN")
    return session


class Py4JChatter(logging.Filter):
    """Records logged by py4j's own code, whichever logger they were sent to: its connections,
    and the tracebacks of a broken one, which py4j also raises to its caller."""

    def filter(self, record: logging.LogRecord) -> bool:
        return f"{os.sep}py4j{os.sep}" not in record.pathname


@contextmanager
def spark_faults(what: str):
    """Spark's own failures in the block (out of memory, a JVM that died under the driver, as
    py4j's broken connection) as one line and exit status 1, never a traceback."""
    from sweeplake.spark.frames import spark_cause, spark_errors, starved

    try:
        yield
    except spark_errors() as exc:  # a Spark job's failure; any other error passes untouched
        if not starved(exc):
            raise
        raise SparkFailed(f"{what}: Spark failed ({spark_cause(exc)})") from None
