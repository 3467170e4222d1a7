"""A moto server on loopback, in its own process, that records every request it is sent.

Code under test reaches it over HTTP through the real boto3 path (AWS_ENDPOINT_URL); tests read
back what arrived from moto's request recording and its APIs, never from the code under test.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import boto3
from botocore.client import BaseClient

REGION = "us-east-1"
ACCESS_KEY = "testing-access-key"
SECRET_KEY = "testing-secret-key-never-printed"
STARTUP_SECONDS = 60


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: str


class AwsServer:
    def __init__(self, workdir: Path) -> None:
        self.recording = workdir / "recording.jsonl"
        self.log = workdir / "moto.log"
        self.process: subprocess.Popen | None = None
        self.endpoint = ""

    def start(self) -> AwsServer:
        for _ in range(5):  # another process may take the free port before moto binds it
            port = free_port()
            with open(self.log, "ab") as log:
                self.process = subprocess.Popen(
                    [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1"]
                    + ["-p", str(port)],
                    env={
                        "PATH": "/usr/bin:/bin",
                        "MOTO_ENABLE_RECORDING": "true",
                        "MOTO_RECORDER_FILEPATH": str(self.recording),
                    },
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            self.endpoint = f"http://127.0.0.1:{port}"
            if self._wait_ready():
                return self
            self.stop()
        raise RuntimeError(f"moto server did not start, see {self.log}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                urllib.request.urlopen(f"{self.endpoint}/moto-api/data.json", timeout=2).close()
                return True
            except OSError:
                time.sleep(0.1)
        return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)

    def env(self, endpoint: str | None = None) -> dict[str, str]:
        """What a subprocess needs to reach this server (or `endpoint`, e.g. a proxy in front of
        it) with dummy credentials and nothing from the host's AWS configuration."""
        return {
            "AWS_ENDPOINT_URL": endpoint or self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_REGION": REGION,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def new_bucket(self) -> str:
        name = f"test-{uuid.uuid4().hex[:20]}"
        self.client().create_bucket(Bucket=name)
        return name

    def client(self, service: str = "s3") -> BaseClient:
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )

    def post(self, path: str, payload: dict | None = None) -> None:
        body = json.dumps(payload or {}).encode()
        request = urllib.request.Request(f"{self.endpoint}{path}", data=body, method="POST")
        urllib.request.urlopen(request, timeout=10).close()

    def reset_recording(self) -> None:
        self.post("/moto-api/recorder/reset-recording")

    def recorded(self) -> list[RecordedRequest]:
        """Every request received since the last reset, moto's own API left out."""
        url = f"{self.endpoint}/moto-api/recorder/download-recording"
        with urllib.request.urlopen(url, timeout=10) as response:
            lines = response.read().decode().splitlines()
        entries = [json.loads(line) for line in lines if line.strip()]
        return [
            RecordedRequest(e["method"], e["url"], e["headers"], _body(e))
            for e in entries
            if "/moto-api/" not in e["url"]
        ]

    def seed_athena_results(self, columns: list[tuple[str, str]], rows: list[list]) -> None:
        """Queue one result set: the next query started gets these columns and rows.

        Athena's first row of a SELECT result repeats the column names; so does this one.
        """
        header = [{"VarCharValue": name} for name, _ in columns]
        data = [[{} if v is None else {"VarCharValue": str(v)} for v in row] for row in rows]
        result = {
            "rows": [{"Data": cells} for cells in [header, *data]],
            "column_info": [
                {
                    **{"CatalogName": "hive", "SchemaName": "", "TableName": ""},
                    **{"Name": name, "Label": name, "Type": kind, "Nullable": "UNKNOWN"},
                    **{"Precision": 0, "Scale": 0, "CaseSensitive": kind == "varchar"},
                }
                for name, kind in columns
            ],
        }
        self.post(
            "/moto-api/static/athena/query-results",
            {"region": REGION, "results": [result]},
        )


def _body(entry: dict) -> str:
    body = entry["body"] or ""
    return base64.b64decode(body).decode(errors="replace") if entry["body_encoded"] else body


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
