"""The S3 lake without the spool, for runners whose disk does not outlive them (Lambda).

A batch goes straight to S3, each object acknowledged before the next and the commit object
after the facts, as the spool ships it. When S3 fails, the batch is not kept anywhere: the
run fails with one line, what it had put before the commit object is taken back where S3
still answers, and whatever retries the unit of work (Lambda's retries, its on-failure
destination) takes it from there; a retry writes the same keys.
"""

from __future__ import annotations

from sweeplake.dataset import Dataset
from sweeplake.errors import LakeRefused, LakeUnreachable, ShipFailed
from sweeplake.lake.base import Batch, dataset_key
from sweeplake.lake.s3 import S3Lake, describe, refused

NO_SPOOL = "off"  # SWEEPLAKE_SPOOL's value that chooses this lake for s3:// URIs


class DirectS3Lake(S3Lake):
    def check_writable(self) -> None:
        self.client  # noqa: B018  (a bad profile or region fails before any work)

    def check_dataset(self, dataset: Dataset) -> bool:
        """As on S3, but a lake that does not answer now fails the run before any fit: with no
        spool to keep it, the batch would be fitted only to be lost."""
        held = super().check_dataset(dataset)
        if self.answered is False:
            raise LakeUnreachable(f"cannot reach the lake {self.uri}: no trials were fitted")
        return held

    def ship_waiting(self) -> None:
        """Nothing waits: there is no spool."""

    def write_batch(self, batch: Batch, dataset: Dataset | None = None) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        written: list[str] = []
        try:
            if dataset is not None:
                self.ship_dataset(dataset_key(dataset), dataset.canonical)
            for prefix in batch.objects:
                self.put(batch.key(prefix), batch.objects[prefix])
                written.append(prefix)
        except (BotoCoreError, ClientError, ShipFailed) as exc:
            committed = set(batch.committing()) <= set(written)
            if not committed:
                self.take_back([batch.key(p) for p in written])
            reason = exc if isinstance(exc, ShipFailed) else describe(exc)
            kind = LakeRefused if refused(exc) else LakeUnreachable
            what = "written, its derived objects not all" if committed else "NOT written"
            raise kind(f"batch {batch.batch_id} was {what} to {self.uri}: {reason}") from None

    def take_back(self, keys: list[str]) -> None:
        """Delete what an uncommitted batch put, where S3 still answers; a retry of the same
        unit of work overwrites whatever stays."""
        from botocore.exceptions import BotoCoreError, ClientError

        for key in keys:
            try:
                self.client.delete_object(Bucket=self.bucket, Key=self.full_key(key))
            except (BotoCoreError, ClientError):
                return
