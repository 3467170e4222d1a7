"""The two kinds of failure the command line tells apart by exit status."""


class BadInput(Exception):
    """Input the user can fix (a flag, a file, a lake path): one line on stderr, exit status 2."""


class LakeUnreachable(Exception):
    """The lake could not be read or written just now: one line, exit status 1."""


class ShipFailed(LakeUnreachable):
    """The batch is safe in the spool but could not reach the lake: one line, exit status 1."""


class QueryFailed(Exception):
    """Athena refused or failed a statement (credentials, workgroup, SQL): one line, exit 1."""
