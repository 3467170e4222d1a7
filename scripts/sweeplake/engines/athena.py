"""Athena through pyathena: settings from flags then environment, statements sent as they stand."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sweeplake.engines.base import Engine
from sweeplake.errors import BadInput, QueryFailed

if TYPE_CHECKING:
    from pyathena.cursor import Cursor

log = logging.getLogger("sweeplake.athena")
# pyathena logs every failed call with its traceback; we report each failure as one line instead.
logging.getLogger("pyathena").setLevel(logging.CRITICAL)

DEFAULT_WORKGROUP = "primary"
DEFAULT_DATABASE = "sweeplake"
DDL_CONTEXT_DATABASE = "default"  # exists in every account, unlike ours before setup
MAX_FETCH = 1000  # GetQueryResults returns at most this many rows a call
DATABASE_NAME = re.compile(r"[a-z0-9_]{1,255}")
WORKGROUP_NAME = re.compile(r"[A-Za-z0-9._-]{1,128}")
# Bucket rules, and key characters that are safe inside a quoted SQL literal (no quote, no $).
S3_URI = re.compile(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[A-Za-z0-9!_.*()=/-]*)?")


@dataclass(frozen=True)
class AthenaSettings:
    workgroup: str
    output: str | None
    database: str
    region: str | None

    @classmethod
    def resolve(
        cls, workgroup: str | None = None, output: str | None = None, database: str | None = None
    ) -> AthenaSettings:
        """Each setting from its flag, else its environment variable, else the default."""
        workgroup = workgroup or os.environ.get("SWEEPLAKE_ATHENA_WORKGROUP") or DEFAULT_WORKGROUP
        if not WORKGROUP_NAME.fullmatch(workgroup):
            raise BadInput(f"workgroup {workgroup!r:.80}: letters, digits, '.', '_', '-' only")
        output = output or os.environ.get("SWEEPLAKE_ATHENA_OUTPUT") or None
        if output is not None:
            output = check_s3_uri(output, "Athena results location")
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None
        return cls(workgroup, output, resolve_database(database), region)


def resolve_database(database: str | None = None) -> str:
    name = database or os.environ.get("SWEEPLAKE_DATABASE") or DEFAULT_DATABASE
    if not DATABASE_NAME.fullmatch(name):
        raise BadInput(
            f"database name {name!r:.80}: Glue allows lowercase letters, digits and '_' only"
        )
    return name


def check_s3_uri(uri: str, what: str) -> str:
    """The URI without its trailing slash; BadInput unless it is s3://bucket[/prefix]."""
    if not S3_URI.fullmatch(uri):
        raise BadInput(
            f"{what} {uri!r:.120} is not s3://bucket/prefix "
            "(bucket: lowercase letters, digits, '.', '-'; prefix: no quotes or spaces)"
        )
    return uri.rstrip("/")


@contextmanager
def athena_errors(action: str) -> Iterator[None]:
    """Turn what pyathena and botocore raise into one line that carries no credential."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError
    from pyathena.error import Error

    try:
        yield
    except NoRegionError:
        raise BadInput("no AWS region: set AWS_REGION (for example us-east-1)") from None
    except NoCredentialsError:
        raise QueryFailed(f"athena: {action}: no AWS credentials found") from None
    except (Error, ClientError, BotoCoreError) as exc:
        # A FAILED query's reason is Athena's message, or None when Athena gave none.
        reason = " ".join(str(exc).split()).removeprefix("None") or type(exc).__name__
        raise QueryFailed(f"athena: {action} failed: {reason:.300}") from None


class AthenaEngine(Engine):
    """Runs statements in one workgroup and database; results land in the output location."""

    def __init__(self, settings: AthenaSettings) -> None:
        import pyathena

        self.settings = settings
        with athena_errors("connect"):
            self.connection = pyathena.connect(
                work_group=settings.workgroup,
                # "" rather than None: pyathena would otherwise fall back to its own variable.
                s3_staging_dir=settings.output or "",
                region_name=settings.region,
                schema_name=settings.database,
            )
        self._output_checked = settings.output is not None

    @classmethod
    def from_environment(
        cls, workgroup: str | None = None, output: str | None = None, database: str | None = None
    ) -> AthenaEngine:
        return cls(AthenaSettings.resolve(workgroup, output, database))

    def query(
        self, sql: str, within: int | None = None, ranked_by: str = "rank"
    ) -> tuple[list[str], list[tuple]]:
        """Every row, `within` or not: the statement runs as it stands, as in the console."""
        cursor = self._run(sql, self.settings.database, None)
        with athena_errors("fetching results"):
            columns = [d[0] for d in cursor.description]
            rows = cursor.fetchall()
        return columns, rows

    def execute(self, sql: str, database: str | None = None) -> str:
        """Run one statement to its end in `database` (ours when None); returns its id."""
        return self._run(sql, database or self.settings.database, None).query_id

    def _run(self, sql: str, database: str, limit: int | None) -> Cursor:
        self._check_output()
        cursor = self.connection.cursor(schema_name=database)
        if limit is not None:
            cursor.arraysize = min(limit, MAX_FETCH)  # fetch no more rows than will be shown
        first_line = next((line for line in sql.splitlines() if not line.startswith("--")), "")
        with athena_errors(f"query {first_line.strip()[:60]!r}"):
            # qmark with no parameters: pyathena sends the text untouched (pyformat strips it).
            cursor.execute(sql, paramstyle="qmark")
        log.info(
            "athena query %s %s in workgroup %s, %s bytes scanned",
            cursor.query_id,
            cursor.state,
            self.settings.workgroup,
            cursor.data_scanned_in_bytes,
        )
        return cursor

    def _check_output(self) -> None:
        """Without --output the workgroup must name a results location, or Athena refuses."""
        if self._output_checked:
            return
        with athena_errors(f"reading workgroup {self.settings.workgroup}"):
            group = self.connection.client.get_work_group(WorkGroup=self.settings.workgroup)
        configuration = group["WorkGroup"].get("Configuration", {})
        managed = configuration.get("ManagedQueryResultsConfiguration", {}).get("Enabled")
        if not (configuration.get("ResultConfiguration", {}).get("OutputLocation") or managed):
            raise BadInput(
                f"workgroup {self.settings.workgroup} has no query results location: "
                "set --output or SWEEPLAKE_ATHENA_OUTPUT to an s3:// prefix"
            )
        self._output_checked = True
