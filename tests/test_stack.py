"""deploy/sweeplake.yaml: linted, one source with shell/*.json, deployed on moto over HTTP.

moto 5.2.5's CloudFormation creates the buckets (with their default encryption), the role and
its inline policy, the instance profile, the launch template and the Auto Scaling group with its
instances. It skips three resource types it does not implement (AWS::S3::BucketPolicy,
AWS::Athena::WorkGroup, AWS::Glue::Database) and two bucket properties
(PublicAccessBlockConfiguration, LifecycleConfiguration), and its instances do not take the
launch template's profile and metadata options. Those are checked in the template's text, which
cfn-lint validates against CloudFormation's schemas; the workgroup `setup` needs is created from
the template's own properties through Athena's API.
"""

from __future__ import annotations

import ast
import base64
import functools
import io
import json
import re
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path

import pytest
from awsserver import REGION, AwsServer
from cfnlint.decode import decode
from conftest import REPO, sweeplake
from test_concurrency import REPORT
from test_s3_lake import assert_each_record_once, lake_objects, records

from sweeplake.lake.pending import PREFIX as PENDING

TEMPLATE = REPO / "deploy" / "sweeplake.yaml"
# The template's names for what the shell/*.json files hold as placeholders.
PLACEHOLDERS = {
    "LakeBucket": "LAKE_BUCKET",
    "LakePrefix": "LAKE_PREFIX",
    "ResultsBucket": "RESULTS_BUCKET",
    "ResultsPrefix": "RESULTS_PREFIX",
    "WorkGroupName": "WORKGROUP",
    "DatabaseName": "DATABASE",
    "AWS::Region": "REGION",
    "AWS::AccountId": "ACCOUNT_ID",
    "AWS::Partition": "aws",
    "AWS::StackName": "STACK",
}
SUB_NAME = re.compile(r"\$\{([A-Za-z0-9:]+)\}")
CFN_LINT = Path(sys.executable).parent / "cfn-lint"


@functools.cache
def load_template() -> dict:
    decoded, problems = decode(str(TEMPLATE))
    assert problems == []
    return decoded


@pytest.fixture
def template() -> dict:
    return load_template()


def defaults() -> dict[str, object]:
    """What Ref gives for each parameter left at its default."""
    return {name: p.get("Default") for name, p in load_template()["Parameters"].items()}


def resolve(node: object, values: dict[str, object]) -> object:
    """The node with every Ref and Fn::Sub filled from `values`; any other function fails."""
    if isinstance(node, dict):
        if list(node) == ["Ref"]:
            return values[node["Ref"]]
        if list(node) == ["Fn::Sub"]:
            return SUB_NAME.sub(lambda m: str(values[m[1]]), node["Fn::Sub"])
        assert not any(key.startswith("Fn::") for key in node), node
        return {key: resolve(value, values) for key, value in node.items()}
    if isinstance(node, list):
        return [resolve(item, values) for item in node]
    return node


def drift(ours: dict, theirs: dict) -> list[str]:
    """Each statement (by Sid, or by place) that differs between two policy documents."""
    problems = [] if ours.get("Version") == theirs.get("Version") else ["Version"]
    ours_by = {s.get("Sid", i): s for i, s in enumerate(ours["Statement"])}
    theirs_by = {s.get("Sid", i): s for i, s in enumerate(theirs["Statement"])}
    for sid in ours_by.keys() | theirs_by.keys():
        if ours_by.get(sid) != theirs_by.get(sid):
            problems.append(f"{sid}: template {ours_by.get(sid)} != shell {theirs_by.get(sid)}")
    if list(ours_by) != list(theirs_by):
        problems.append(f"statement order {list(ours_by)} != {list(theirs_by)}")
    return problems


def shell_policy(name: str) -> dict:
    return json.loads((REPO / "shell" / name).read_text())


def resources_of(template: dict, kind: str) -> dict[str, dict]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == kind}


def test_the_template_passes_cfn_lint() -> None:
    result = subprocess.run([str(CFN_LINT), str(TEMPLATE)], capture_output=True, text=True)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_cfn_lint_fails_a_broken_template(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(TEMPLATE.read_text().replace("HttpTokens: required", "HttpTokens: yes"))
    result = subprocess.run([str(CFN_LINT), str(broken)], capture_output=True, text=True)
    assert result.returncode != 0 and "not one of ['optional', 'required']" in result.stdout


def test_the_instance_role_has_exactly_the_rights_of_iam_policy_json(template: dict) -> None:
    roles = resources_of(template, "AWS::IAM::Role")
    assert list(roles) == ["InstanceRole", "RunnerRole"]
    for name, policy, shell in (
        ("InstanceRole", "sweeplake", "iam-policy.json"),
        ("RunnerRole", "sweeplake-lambda", "lambda-policy.json"),
    ):
        role = roles[name]["Properties"]
        assert set(role) == {"AssumeRolePolicyDocument", "Policies"}  # no managed policies
        assert [p["PolicyName"] for p in role["Policies"]] == [policy]
        ours = resolve(role["Policies"][0]["PolicyDocument"], PLACEHOLDERS)
        assert drift(ours, shell_policy(shell)) == []
    kinds = {r["Type"] for r in template["Resources"].values()}
    assert not kinds & {"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::User"}


def test_the_lake_bucket_policy_is_bucket_policy_json(template: dict) -> None:
    policies = resources_of(template, "AWS::S3::BucketPolicy")
    assert list(policies) == ["LakeBucketPolicy"]
    properties = policies["LakeBucketPolicy"]["Properties"]
    assert properties["Bucket"] == {"Ref": "LakeBucket"}
    ours = resolve(properties["PolicyDocument"], PLACEHOLDERS)
    assert drift(ours, shell_policy("bucket-policy.json")) == []


@pytest.mark.parametrize(
    "change",
    ["drop an action", "widen a resource", "add a statement", "reorder", "loosen a condition"],
)
def test_a_drift_from_the_shell_policy_is_found(template: dict, change: str) -> None:
    role = template["Resources"]["InstanceRole"]["Properties"]
    ours = resolve(role["Policies"][0]["PolicyDocument"], PLACEHOLDERS)
    theirs = shell_policy("iam-policy.json")
    statements = theirs["Statement"]
    if change == "drop an action":
        statements[0]["Action"] = statements[0]["Action"][:1]
    elif change == "widen a resource":
        statements[5]["Resource"] = "arn:aws:athena:REGION:ACCOUNT_ID:workgroup/*"
    elif change == "add a statement":
        statements.append({"Effect": "Allow", "Action": "s3:DeleteObject", "Resource": "*"})
    elif change == "reorder":
        statements.reverse()
    else:
        del statements[1]["Condition"]
    assert drift(ours, theirs) != []


def test_buckets_workgroup_and_group_as_the_walk_through_makes_them(template: dict) -> None:
    """What moto skips, read from the template: the walk-through's settings, one by one."""
    for name in ("LakeBucket", "ResultsBucket"):
        bucket = template["Resources"][name]["Properties"]
        assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
        assert len(bucket["PublicAccessBlockConfiguration"]) == 4
        (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    (expire,) = template["Resources"]["ResultsBucket"]["Properties"]["LifecycleConfiguration"][
        "Rules"
    ]
    assert resolve(expire["Prefix"], PLACEHOLDERS) == "RESULTS_PREFIX/"
    assert expire["ExpirationInDays"] == {"Ref": "ResultsExpireDays"}
    # The lake's pending trials (sweeplake.lake.pending) expire; nothing else of the lake does.
    (pending,) = template["Resources"]["LakeBucket"]["Properties"]["LifecycleConfiguration"][
        "Rules"
    ]
    assert resolve(pending["Prefix"], PLACEHOLDERS) == f"LAKE_PREFIX/{PENDING}"
    assert pending["ExpirationInDays"] == 1 and pending["Status"] == "Enabled"
    workgroup = template["Resources"]["WorkGroup"]["Properties"]
    values = {**defaults(), **PLACEHOLDERS, "ResultsBucket": "r"}
    settings = resolve(workgroup["WorkGroupConfiguration"], values)
    assert settings["ResultConfiguration"] == {
        "OutputLocation": "s3://r/RESULTS_PREFIX/",
        "EncryptionConfiguration": {"EncryptionOption": "SSE_S3"},
    }
    assert settings["EnforceWorkGroupConfiguration"] is True
    assert template["Parameters"]["BytesScannedCutoffPerQuery"]["Default"] == 10 * 2**30
    database = template["Resources"]["Database"]["Properties"]["DatabaseInput"]
    assert database["Name"] == {"Ref": "DatabaseName"}


class Stack:
    """One deployed stack: its outputs, its resources' physical ids, and its parameters."""

    def __init__(self, aws: AwsServer, instances: int, **parameters: str) -> None:
        self.aws = aws
        self.cfn = aws.client("cloudformation")
        self.name = f"sweeplake-{uuid.uuid4().hex[:8]}"
        self.account = aws.client("sts").get_caller_identity()["Account"]
        self.parameters = {
            "RepositoryUrl": "https://git.invalid/sweeplake.git",
            # moto keeps one workgroup namespace for the whole session: a name per stack.
            "WorkGroupName": f"wg-{self.name}",
            "DatabaseName": "sweep_stack",
            "Instances": str(instances),
            **parameters,
        }
        self._deploy("create")

    def resize(self, instances: int) -> None:
        self.parameters["Instances"] = str(instances)
        self._deploy("update")

    def _deploy(self, how: str) -> None:
        """create_stack or update_stack with the template and parameters, waited for."""
        getattr(self.cfn, f"{how}_stack")(
            StackName=self.name,
            TemplateBody=TEMPLATE.read_text(),
            Parameters=[
                {"ParameterKey": k, "ParameterValue": v} for k, v in self.parameters.items()
            ],
            Capabilities=["CAPABILITY_IAM"],
        )
        self.cfn.get_waiter(f"stack_{how}_complete").wait(StackName=self.name)

    @property
    def outputs(self) -> dict[str, str]:
        (stack,) = self.cfn.describe_stacks(StackName=self.name)["Stacks"]
        return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}

    @property
    def physical(self) -> dict[str, str]:
        listed = self.cfn.describe_stack_resources(StackName=self.name)["StackResources"]
        # moto lists the resources it skips (see the module's docstring) with no ids.
        return {
            r["LogicalResourceId"]: r["PhysicalResourceId"]
            for r in listed
            if r.get("LogicalResourceId") and r.get("PhysicalResourceId")
        }

    def values(self) -> dict[str, object]:
        """What Ref and Fn::Sub give in this stack, for the template's own properties."""
        return {
            **defaults(),
            **self.parameters,
            **self.physical,
            "AWS::Region": REGION,
            "AWS::AccountId": self.account,
            "AWS::Partition": "aws",
        }

    def instances(self) -> list[dict]:
        group = self.outputs["WorkerGroup"]
        scaling = self.aws.client("autoscaling")
        (found,) = scaling.describe_auto_scaling_groups(AutoScalingGroupNames=[group])[
            "AutoScalingGroups"
        ]
        ids = [i["InstanceId"] for i in found["Instances"] if i["LifecycleState"] == "InService"]
        if not ids:
            return []
        described = self.aws.client("ec2").describe_instances(InstanceIds=ids)
        return [i for r in described["Reservations"] for i in r["Instances"]]


@pytest.fixture(scope="module")
def stack(aws: AwsServer) -> Stack:
    return Stack(aws, instances=1)


def test_the_stack_deploys_with_its_outputs(stack: Stack) -> None:
    outputs = stack.outputs
    physical = stack.physical
    assert outputs["LakeUri"] == f"s3://{physical['LakeBucket']}/lake"
    assert outputs["ResultsLocation"] == f"s3://{physical['ResultsBucket']}/sweeplake/"
    assert outputs["WorkGroup"] == stack.parameters["WorkGroupName"]
    assert outputs["Database"] == "sweep_stack"
    s3 = stack.aws.client("s3")
    for bucket in (physical["LakeBucket"], physical["ResultsBucket"]):
        (rule,) = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"][
            "Rules"
        ]
        assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}


def test_the_deployed_role_holds_iam_policy_json_filled_in(stack: Stack) -> None:
    iam = stack.aws.client("iam")
    role = stack.physical["InstanceRole"]
    trust = iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
    assert [s["Principal"] for s in trust["Statement"]] == [{"Service": "ec2.amazonaws.com"}]
    assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []
    assert iam.list_role_policies(RoleName=role)["PolicyNames"] == ["sweeplake"]
    document = iam.get_role_policy(RoleName=role, PolicyName="sweeplake")["PolicyDocument"]
    if isinstance(document, str):  # moto 5.2.5 keeps a CloudFormation policy as a dict's repr
        document = ast.literal_eval(document)
    physical = stack.physical
    filled = (REPO / "shell" / "iam-policy.json").read_text()
    for placeholder, value in {
        "LAKE_BUCKET": physical["LakeBucket"],
        "LAKE_PREFIX": "lake",
        "RESULTS_BUCKET": physical["ResultsBucket"],
        "RESULTS_PREFIX": "sweeplake",
        "REGION": REGION,
        "ACCOUNT_ID": stack.account,
        "WORKGROUP": stack.parameters["WorkGroupName"],
        "DATABASE": "sweep_stack",
    }.items():
        filled = filled.replace(placeholder, value)
    assert drift(document, json.loads(filled)) == []
    (profile,) = [
        p
        for p in iam.list_instance_profiles()["InstanceProfiles"]
        if p["InstanceProfileName"] == physical["InstanceProfile"]
    ]
    assert [r["RoleName"] for r in profile["Roles"]] == [role]


def test_the_group_launches_the_template_with_imdsv2_and_the_bootstrap(
    stack: Stack, tmp_path: Path
) -> None:
    ec2 = stack.aws.client("ec2")
    template_id = stack.physical["LaunchTemplate"]
    (version,) = ec2.describe_launch_template_versions(LaunchTemplateId=template_id)[
        "LaunchTemplateVersions"
    ]
    data = version["LaunchTemplateData"]
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    assert data["MetadataOptions"]["HttpPutResponseHopLimit"] == 1
    assert data["IamInstanceProfile"]["Arn"].endswith(
        f":instance-profile/{stack.physical['InstanceProfile']}"
    )
    assert data["ImageId"].startswith("ami-")  # the SSM parameter, resolved
    user_data = base64.b64decode(data["UserData"]).decode()
    script = tmp_path / "user-data.sh"
    script.write_text(user_data)
    shellcheck = subprocess.run(
        [str(Path(sys.executable).parent / "shellcheck"), str(script)],
        capture_output=True,
        text=True,
    )
    assert shellcheck.returncode == 0, shellcheck.stdout
    assert "git clone --depth 1 --branch 'main' 'https://git.invalid/sweeplake.git'" in user_data
    outputs = stack.outputs
    setup = f"'{outputs['LakeUri']}' '{outputs['WorkGroup']}' '{outputs['Database']}'"
    assert f"sweeplake/shell/ec2_setup.sh {setup}\n" in user_data
    scaling = stack.aws.client("autoscaling")
    (group,) = scaling.describe_auto_scaling_groups(
        AutoScalingGroupNames=[stack.outputs["WorkerGroup"]]
    )["AutoScalingGroups"]
    assert group["LaunchTemplate"]["LaunchTemplateId"] == template_id
    assert (group["MinSize"], group["DesiredCapacity"]) == (0, 1)
    assert len(stack.instances()) == 1


def test_setup_and_a_run_work_on_the_stack_as_deployed(stack: Stack, tmp_path: Path) -> None:
    athena = stack_workgroup(stack)
    outputs = stack.outputs
    env = {
        **stack.aws.env(),
        "SWEEPLAKE_LAKE": outputs["LakeUri"],
        "SWEEPLAKE_ATHENA_WORKGROUP": outputs["WorkGroup"],
        "SWEEPLAKE_DATABASE": outputs["Database"],
        "SWEEPLAKE_SPOOL": str(tmp_path / "spool"),
        "SWEEPLAKE_CACHE": str(tmp_path / "cache"),
    }
    done = sweeplake("setup", env=env)
    assert done.returncode == 0, done.stderr
    ids = athena.list_query_executions(WorkGroup=outputs["WorkGroup"])["QueryExecutionIds"]
    sent = [athena.get_query_execution(QueryExecutionId=i)["QueryExecution"] for i in ids]
    assert len(sent) == len(list((REPO / "sql").glob("create_*.sql")))
    assert all(q["Status"]["State"] == "SUCCEEDED" for q in sent)
    # setup sends no --output: it found the results location in the workgroup.
    assert not any("ResultConfiguration" in q for q in sent)
    held = athena.get_work_group(WorkGroup=outputs["WorkGroup"])["WorkGroup"]["Configuration"]
    assert held["ResultConfiguration"]["OutputLocation"] == outputs["ResultsLocation"]
    assert any(f"LOCATION '{outputs['LakeUri']}/hyper/'" in q["Query"] for q in sent)

    done = sweeplake("run", "--trials", "3", "--workers", "1", env=env)
    assert done.returncode == 0, done.stderr
    objects = lake_objects(stack.aws.client("s3"), stack.physical["LakeBucket"])
    assert all(key.startswith("lake/") for key in objects)
    assert_each_record_once(objects, trials=3)


def test_the_instances_crontab_compacts_with_the_stack_settings(
    stack: Stack, tmp_path: Path
) -> None:
    """The block ec2_setup.sh installs, made with the values the user data passes, and its
    daily compact line run as cron would (its settings, the line as written)."""
    outputs = stack.outputs
    athena = stack_workgroup(stack)
    repo = tmp_path / "sweeplake"  # the instance's clone: its venv and results/
    (repo / "results").mkdir(parents=True)
    (repo / ".venv").symlink_to(Path(sys.executable).parent.parent)
    made = crontab_block(
        repo, outputs["LakeUri"], REGION, outputs["WorkGroup"], outputs["Database"]
    )
    assert made.returncode == 0, made.stderr
    settings, entries = crontab_lines(made.stdout)
    assert settings == {
        "SWEEPLAKE_LAKE": outputs["LakeUri"],
        "AWS_REGION": REGION,
        "SWEEPLAKE_ATHENA_WORKGROUP": outputs["WorkGroup"],
        "SWEEPLAKE_DATABASE": outputs["Database"],
    }
    (compact,) = [e for e in entries if " compact " in e]
    *schedule, command = compact.split(" ", 5)
    assert schedule == ["15", "0", "*", "*", "*"]

    athena_before = set(
        athena.list_query_executions(WorkGroup=outputs["WorkGroup"])["QueryExecutionIds"]
    )
    aws = {k: v for k, v in stack.aws.env().items() if k not in settings}
    cron = {**aws, **settings, "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    cron["SWEEPLAKE_CACHE"] = str(tmp_path / "cache")
    done = subprocess.run(["/bin/sh", "-c", command], env=cron, capture_output=True, text=True)
    log = (repo / "results" / "cron.log").read_text()
    assert done.returncode == 0, log
    ids = athena.list_query_executions(WorkGroup=outputs["WorkGroup"])["QueryExecutionIds"]
    (view,) = [
        athena.get_query_execution(QueryExecutionId=i)["QueryExecution"]
        for i in set(ids) - athena_before
    ]
    assert view["Query"].lstrip().upper().startswith("CREATE OR REPLACE VIEW")
    assert view["QueryExecutionContext"]["Database"] == outputs["Database"]
    assert view["Status"]["State"] == "SUCCEEDED"


def stack_workgroup(stack: Stack):
    """Athena's client, the stack's workgroup made if missing: moto's CloudFormation skips
    AWS::Athena::WorkGroup, so it is created from the template's text."""
    athena = stack.aws.client("athena")
    if stack.outputs["WorkGroup"] not in [
        w["Name"] for w in athena.list_work_groups()["WorkGroups"]
    ]:
        configuration = resolve(
            load_template()["Resources"]["WorkGroup"]["Properties"]["WorkGroupConfiguration"],
            stack.values(),
        )
        athena.create_work_group(Name=stack.outputs["WorkGroup"], Configuration=configuration)
    return athena


def crontab_block(repo: Path, *values: str) -> subprocess.CompletedProcess:
    script = REPO / "shell" / "crontab_block.sh"
    return subprocess.run([script, str(repo), *values], capture_output=True, text=True)


def crontab_lines(block: str) -> tuple[dict[str, str], list[str]]:
    """A crontab block's settings (NAME=value lines) and its entries; comments left out."""
    lines = [line for line in block.splitlines() if line and not line.startswith("#")]
    settings = dict(line.split("=", 1) for line in lines if re.match(r"^[A-Z_]+=", line))
    return settings, [line for line in lines if not re.match(r"^[A-Z_]+=", line)]


@pytest.mark.parametrize(
    ("lake", "workgroup", "kept"),
    [
        ("s3://sweep-lake/lake", "sweeplake", True),
        ("s3://sweep-lake/lake", "", False),  # no Athena named: nothing to compact for
        ("", "sweeplake", False),  # a local lake: compact needs S3
    ],
)
def test_the_crontab_compacts_only_an_s3_lake_with_a_workgroup(
    lake: str, workgroup: str, kept: bool
) -> None:
    made = crontab_block(Path("/home/ec2-user/sweeplake"), lake, "", workgroup, "")
    assert made.returncode == 0, made.stderr
    settings, entries = crontab_lines(made.stdout)
    assert all(value for value in settings.values())  # unset ones left out, never empty
    assert "AWS_REGION" not in settings and "SWEEPLAKE_DATABASE" not in settings
    assert settings.get("SWEEPLAKE_LAKE", "") == lake
    assert settings.get("SWEEPLAKE_ATHENA_WORKGROUP", "") == workgroup
    assert entries[0].startswith("* * * * * /home/ec2-user/sweeplake/shell/runpipeline.sh ")
    compacts = [e for e in entries if "compact" in e]
    assert compacts == (
        [
            "15 0 * * * /home/ec2-user/sweeplake/.venv/bin/sweeplake compact >> "
            "/home/ec2-user/sweeplake/results/cron.log 2>&1"
        ]
        if kept
        else []
    )
    assert "compact" not in made.stdout or kept  # its comment goes with it


@pytest.mark.parametrize(
    "values",
    [
        ("s3://sweep-lake/lake", "", "wg|x", ""),  # would break sed's replacement
        ("s3://sweep-lake/lake", "", "sweeplake", "Not-Glue"),
        ("s3://sweep-lake/lake", "us east", "sweeplake", ""),
        ("/home/ec2-user/lake", "", "", ""),
        ("s3://sweep-lake/lake\n* * * * * rm -rf ~", "", "", ""),
    ],
)
def test_a_bad_crontab_setting_is_one_line_and_exit_2(values: tuple[str, ...]) -> None:
    made = crontab_block(Path("/home/ec2-user/sweeplake"), *values)
    assert made.returncode == 2
    assert made.stdout == ""
    assert len(made.stderr.splitlines()) == 1 and made.stderr.startswith("crontab_block: ")


def worker(stack: Stack, host: str, root: Path, seconds: float) -> subprocess.Popen:
    """One instance's cron, on this machine: runpipeline.sh back to back, at least twice and
    until `seconds` have passed, with its own host name, lock, spool and cache; all it shares
    with the other workers is the S3 lake."""
    root.mkdir()
    env = {
        **stack.aws.env(),
        "PATH": "/usr/bin:/bin",
        "SWEEPLAKE_LAKE": stack.outputs["LakeUri"],
        "SWEEPLAKE_HOST": host,
        "SWEEPLAKE_LOCK": str(root / "runpipeline.lock"),
        "SWEEPLAKE_SPOOL": str(root / "spool"),
        "SWEEPLAKE_CACHE": str(root / "cache"),
    }
    loop = (
        f"end=$((SECONDS + {seconds:.0f})) starts=0; "
        "until shell/runpipeline.sh --trials 4 --workers 1 --budget 30 || exit; "
        "(( ++starts >= 2 && SECONDS >= end )); do :; done"
    )
    return subprocess.Popen(
        ["bash", "-c", loop], cwd=REPO, env=env, stderr=subprocess.PIPE, text=True
    )


def test_eight_instances_share_one_lake_without_coordination(
    aws: AwsServer, tmp_path: Path
) -> None:
    scaled = Stack(aws, instances=1)
    scaled.resize(8)
    hosts = sorted(i["PrivateDnsName"] for i in scaled.instances())
    assert len(set(hosts)) == 8
    workers = {h: worker(scaled, h, tmp_path / h, seconds=10) for h in hosts}
    reported: dict[str, list[tuple[str, int, int]]] = {}
    for host, process in workers.items():
        _, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stderr
        reported[host] = [(m[1], int(m[2]), int(m[3])) for m in REPORT.finditer(stderr)]
        assert len(reported[host]) >= 2, stderr
        assert not [p for p in (tmp_path / host / "spool").iterdir() if p.name[0] != "."]

    objects = lake_objects(aws.client("s3"), scaled.physical["LakeBucket"])
    batches = [batch for host_batches in reported.values() for batch in host_batches]
    total = sum(n for _, n, _ in batches)
    assert_each_record_once(objects, trials=total)
    hyper = records(objects, "hyper")
    for host, host_batches in reported.items():
        ours = [h for h in hyper if h["host"] == host]
        assert {h["batch_id"] for h in ours} == {b for b, _, _ in host_batches}
        assert len(ours) == sum(n for _, n, _ in host_batches)
    env = {**aws.env(), "SWEEPLAKE_CACHE": str(tmp_path / "rank-cache")}
    ranked = sweeplake(
        "rank",
        "--lake",
        scaled.outputs["LakeUri"],
        "--format",
        "csv",
        "--limit",
        "100000",
        env=env,
    )
    assert ranked.returncode == 0, ranked.stderr
    assert len(ranked.stdout.splitlines()) - 1 == total - sum(f for _, _, f in batches)

    scaled.resize(0)
    assert scaled.instances() == []


@pytest.fixture(scope="module")
def lambda_stack(aws: AwsServer) -> Stack:
    """The stack with the lambda runner, its package (a zip of the package's source: moto
    stores the code and runs none of it) in a bucket of its own."""
    aws.post("/moto-api/config", {"lambda": {"use_docker": False}})
    packages = aws.new_bucket()
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as archive:
        for path in (REPO / "scripts" / "sweeplake").rglob("*.py"):
            archive.write(path, path.relative_to(REPO / "scripts"))
    aws.client().put_object(Bucket=packages, Key="sweeplake-lambda.zip", Body=zipped.getvalue())
    return Stack(aws, instances=1, Runner="lambda", PackageBucket=packages, FanOut="3")


def test_the_lambda_runner_deploys_on_its_schedule_with_its_own_rights(
    lambda_stack: Stack,
) -> None:
    stack, physical, outputs = lambda_stack, lambda_stack.physical, lambda_stack.outputs
    assert "WorkerGroup" not in physical and "InstanceRole" not in physical
    assert "WorkerGroup" not in outputs
    function_name = f"{stack.name}-runner"
    assert outputs["RunnerFunction"] == function_name
    functions = stack.aws.client("lambda")
    config = functions.get_function(FunctionName=function_name)["Configuration"]
    assert (config["Runtime"], config["Handler"]) == (
        "python3.12",  # the runtime deploy/lambda_package.py builds for
        "sweeplake.runners.lambda_handler.handler",
    )
    assert (config["MemorySize"], config["Timeout"]) == (3008, 120)
    assert config["Role"].endswith(f":role/{physical['RunnerRole']}")
    # moto keeps a Number parameter's value as a number; CloudFormation passes text.
    variables = {k: str(v) for k, v in config["Environment"]["Variables"].items()}
    assert variables == {
        "SWEEPLAKE_LAKE": outputs["LakeUri"],
        "SWEEPLAKE_FAN_OUT": "3",
        "SWEEPLAKE_BUDGET": "45",
    }
    concurrency = functions.get_function_concurrency(FunctionName=function_name)
    assert concurrency["ReservedConcurrentExecutions"] == 10

    events = stack.aws.client("events")
    rule_name = physical["RunnerSchedule"]
    rule = events.describe_rule(Name=rule_name)
    assert (rule["ScheduleExpression"], rule["State"]) == ("rate(1 minute)", "ENABLED")
    (target,) = events.list_targets_by_rule(Rule=rule_name)["Targets"]
    assert target["Arn"] == config["FunctionArn"]
    (statement,) = json.loads(functions.get_policy(FunctionName=function_name)["Policy"])[
        "Statement"
    ]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Condition"]["ArnLike"]["AWS:SourceArn"] == rule["Arn"]

    (group,) = stack.aws.client("logs").describe_log_groups(
        logGroupNamePrefix=f"/aws/lambda/{function_name}"
    )["logGroups"]
    assert group["retentionInDays"] == 14
    queue = stack.aws.client("sqs").get_queue_url(QueueName=f"{stack.name}-failed-runs")
    assert queue["QueueUrl"].endswith(f"/{stack.name}-failed-runs")
    assert outputs["FailedRunsQueue"].endswith(f":{stack.name}-failed-runs")

    iam = stack.aws.client("iam")
    role = physical["RunnerRole"]
    trust = iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
    assert [s["Principal"] for s in trust["Statement"]] == [{"Service": "lambda.amazonaws.com"}]
    document = iam.get_role_policy(RoleName=role, PolicyName="sweeplake-lambda")["PolicyDocument"]
    if isinstance(document, str):  # moto 5.2.5 keeps a CloudFormation policy as a dict's repr
        document = ast.literal_eval(document)
    filled = (REPO / "shell" / "lambda-policy.json").read_text()
    for placeholder, value in {
        "LAKE_BUCKET": physical["LakeBucket"],
        "LAKE_PREFIX": "lake",
        "REGION": REGION,
        "ACCOUNT_ID": stack.account,
        "STACK": stack.name,
    }.items():
        filled = filled.replace(placeholder, value)
    assert drift(document, json.loads(filled)) == []


def test_the_lambda_runner_retries_twice_then_sends_to_its_queue(template: dict) -> None:
    """What moto's CloudFormation does not create (the invoke config, the permission, the
    rule that needs a package), read from the template, which cfn-lint checks."""
    retries = template["Resources"]["RunnerRetries"]
    assert retries["Condition"] == "UseLambda"
    assert retries["Properties"]["MaximumRetryAttempts"] == 2
    assert retries["Properties"]["DestinationConfig"] == {
        "OnFailure": {"Destination": {"Fn::GetAtt": ["FailedRuns", "Arn"]}}
    }
    permission = template["Resources"]["RunnerSchedulePermission"]["Properties"]
    assert permission["Principal"] == "events.amazonaws.com"
    assert permission["SourceArn"] == {"Fn::GetAtt": ["RunnerSchedule", "Arn"]}
    assert template["Parameters"]["Schedule"]["Default"] == "rate(1 minute)"
    rule = template["Rules"]["LambdaNeedsItsPackage"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "Runner"}, "lambda"]}
    rule = template["Rules"]["InstancesNeedTheRepository"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "Runner"}, "instances"]}
