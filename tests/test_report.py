"""The report: built from the scores store (local and S3 lakes), checked in headless Chromium."""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import sweeplake
from lakeread import cv_r2_by_trial, holdout_r2_by_trial, object_records

from sweeplake.paths import DEFAULT_DATASET

FIGURES = [
    "best-so-far",
    "svr-map",
    "svr-slices",
    "random_forest-slices",
    "hist_gradient_boosting-slices",
    "predicted-vs-actual",
    "fit-times",
    "outcomes",
]
CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")


class Tables(HTMLParser):
    """The text of every table cell, by table id and row."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.current: str | None = None
        self.in_cell = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "table":
            self.current = dict(attrs)["id"]
            self.tables[self.current] = []
        elif tag == "tr" and self.current:
            self.tables[self.current].append([])
        elif tag == "td" and self.current:
            self.in_cell = True
            self.tables[self.current][-1].append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self.current = None
        elif tag == "td":
            self.in_cell = False

    def handle_data(self, data: str) -> None:
        if self.in_cell:
            self.tables[self.current][-1][-1] += data


def tables_of(page: str) -> dict[str, list[list[str]]]:
    parser = Tables()
    parser.feed(page)
    return {name: [row for row in rows if row] for name, rows in parser.tables.items()}


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    lake = tmp_path_factory.mktemp("report") / "lake"
    for seed in ("1", "2"):
        done = sweeplake(
            "run", "--lake", str(lake), "--trials", "12", "--seed", seed, "--workers", "2",
            "--budget", "600",
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    return lake


@pytest.fixture(scope="module")
def page(lake: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("page") / "report.html"
    cache = str(tmp_path_factory.mktemp("cache"))
    done = sweeplake(
        "report", "--lake", str(lake), "--out", str(out), env={"SWEEPLAKE_CACHE": cache}
    )
    assert done.returncode == 0, done.stderr
    assert f"report of 24 trials written to {out}" in done.stderr
    return out


def test_the_report_agrees_with_scikit_learn_and_the_lake(lake: Path, page: Path) -> None:
    text = page.read_text()
    tables = tables_of(text)
    oracle = holdout_r2_by_trial(lake, DEFAULT_DATASET)
    ranked = sorted(oracle, key=oracle.get, reverse=True)
    leaders = tables["leaderboard"]
    assert len(leaders) == 20
    assert [row[-2] for row in leaders] == ranked[:20]
    assert [float(row[2]) for row in leaders] == [round(oracle[h], 4) for h in ranked[:20]]
    counted = Counter(
        (path.parent.name.removeprefix("dt="), h["host"], h["status"])
        for path in lake.glob("hyper/dt=*/*.json.gz")
        for h in object_records(path)
    )
    shown = {
        (d, host): (int(ok), int(pruned), int(failed))
        for d, host, ok, pruned, failed in tables["outcomes-table"]
    }
    assert shown == {
        (d, host): tuple(counted[(d, host, status)] for status in ("ok", "pruned", "failed"))
        for d, host, _ in counted
    }
    # The figure of predicted against actual shows the best trial by cv_r2: the honest choice.
    by_cv = cv_r2_by_trial(lake, DEFAULT_DATASET)
    best = min(by_cv, key=lambda h: (-by_cv[h], h))
    assert f"best trial {best}" in text
    assert re.findall(r'<figure id="([\w-]+)">', text) == FIGURES
    # Self-contained: nothing to fetch, every image inline.
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", text)
    assert len(re.findall(r'src="data:image/png;base64,', text)) == len(FIGURES)


def test_the_report_reads_no_fact_object_but_the_best_trials(
    lake: Path, page: Path, tmp_path: Path
) -> None:
    oracle = holdout_r2_by_trial(lake, DEFAULT_DATASET)
    best = max(oracle, key=oracle.get)
    copy = tmp_path / "lake"
    shutil.copytree(lake, copy)
    for fact in copy.glob("fact/dt=*/*.json.gz"):
        ids = {
            json.loads(line)["hyper_id"] for line in gzip.decompress(fact.read_bytes()).splitlines()
        }
        if best not in ids:
            fact.write_bytes(b"not gzip: a reader of this object would fail")
    out = tmp_path / "report.html"
    done = sweeplake(
        "report",
        "--lake",
        str(copy),
        "--out",
        str(out),
        env={"SWEEPLAKE_CACHE": str(tmp_path / "c")},
    )
    assert done.returncode == 0, done.stderr
    assert tables_of(out.read_text())["leaderboard"] == tables_of(page.read_text())["leaderboard"]


@pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER or os.environ.get("CI")),  # CI installs them: never skip there
    reason="needs Debian's chromium and chromium-driver",
)
def test_the_report_renders_every_figure_in_headless_chromium(page: Path, tmp_path: Path) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1300,900",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.get(page.as_uri())
        shown = driver.execute_script(
            "return [...document.querySelectorAll('figure')].map(f => {"
            "  const img = f.querySelector('img'), box = img.getBoundingClientRect();"
            "  return [f.id, img.complete, img.naturalWidth, Math.round(box.width),"
            "          Math.round(box.height), f.querySelector('h2').textContent];"
            "})"
        )
        assert [s[0] for s in shown] == FIGURES
        for figure_id, complete, natural_width, width, height, title in shown:
            assert complete and natural_width > 0, figure_id
            assert width > 200 and height > 150 and title, figure_id
        rows = driver.execute_script(
            "return document.querySelectorAll('#leaderboard tbody tr').length"
        )
        assert rows == 20
        fetched = driver.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)"
            ".filter(n => !n.startsWith('data:'))"
        )
        assert fetched == []
        assert driver.get_log("browser") == []
        height = driver.execute_script("return document.body.scrollHeight")
        driver.set_window_size(1300, height + 50)
        assert driver.save_screenshot(str(tmp_path / "report.png"))
    finally:
        driver.quit()
    assert (tmp_path / "report.png").stat().st_size > 50_000


def test_the_report_builds_from_an_s3_lake(aws, bucket: str, env: dict, tmp_path: Path) -> None:
    uri = f"s3://{bucket}/lake"
    done = sweeplake("run", "--lake", uri, "--trials", "6", "--seed", "4", env=env)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "report.html"
    done = sweeplake("report", "--lake", uri, "--out", str(out), env=env)
    assert done.returncode == 0, done.stderr
    # The oracle reads the lake straight from the S3 server, into a folder of its own.
    client, copy = aws.client(), tmp_path / "copy"
    for item in client.list_objects_v2(Bucket=bucket, Prefix="lake/")["Contents"]:
        target = copy / item["Key"].removeprefix("lake/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
    oracle = holdout_r2_by_trial(copy, DEFAULT_DATASET)
    leaders = tables_of(out.read_text())["leaderboard"]
    assert [row[-2] for row in leaders] == sorted(oracle, key=oracle.get, reverse=True)
    assert re.findall(r'<figure id="([\w-]+)">', out.read_text()) == FIGURES


def test_a_report_of_no_lake_is_one_line_and_status_2(tmp_path: Path) -> None:
    done = sweeplake("report", "--lake", str(tmp_path / "none"), "--out", str(tmp_path / "r.html"))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "no lake at" in done.stderr
    assert not (tmp_path / "r.html").exists()
