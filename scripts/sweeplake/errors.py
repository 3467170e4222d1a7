"""The kinds of failure the command line tells apart by exit status."""


class BadInput(Exception):
    """Input the user can fix (a flag, a file, a lake path): one line on stderr, exit status 2."""


class LakeUnreachable(Exception):
    """The lake could not be read or written just now: one line, exit status 1."""


class ShipFailed(LakeUnreachable):
    """The batch is safe in the spool but could not reach the lake: one line, exit status 1.

    `refused` when S3 said no in a way that retrying cannot change (credentials, bucket, rights);
    `shipped`, how many batches this process shipped before it stopped.
    """

    def __init__(self, message: str, refused: bool = False, shipped: int = 0) -> None:
        super().__init__(message)
        self.refused = refused
        self.shipped = shipped


class SpoolFull(LakeUnreachable):
    """The spool holds as much as it may while the lake is away: no trials are fitted, nothing
    is dropped; one line, exit status 1."""


class LakeRefused(Exception):
    """The lake refuses this machine before any fit (credentials, bucket, rights): retrying every
    minute cannot help, so nothing is fitted or spooled: one line, exit status 3."""


class BatchLost(Exception):
    """A full or failing disk kept the batch from both the spool and the lake: one line, exit 1."""


class SparkFailed(Exception):
    """A Spark job failed past its retries for a reason other than the input (memory, lost
    executors): one line naming Spark's error, exit status 1; nothing of the batch is written."""


class QueryFailed(Exception):
    """Athena refused or failed a statement (credentials, workgroup, SQL): one line, exit 1."""


class AllTrialsFailed(Exception):
    """The batch is written, but every one of its trials failed: one line naming the most common
    error, exit status 4, so that cron and the stack do not read a broken setup as success."""
