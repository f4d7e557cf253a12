#!/usr/bin/env python3
"""The Parquet benchmark behind `scripts/bench --parquet`: has pyarrow write an OCSF file of about
--megabytes MB (API Activity records as Amazon Security Lake stores CloudTrail: nested structs, lists,
a map of unmapped fields, GZIP on every column), then reads it to one JSON object per row twice, each pinned
to the same cores: `trawl replay` with the amazon_security_lake events service into the file output, and
pyarrow (iter_batches, to_pylist, json.dumps). Also shows pyarrow's columnar read alone (read_table, no
rows) for scale. Reports rows/s, MB/s of the Parquet file, MB/s of JSON written, CPU seconds and peak RSS;
the median of --repeat attempts. Not a test: figures compare within one run."""
import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import run  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

OPERATIONS = ["GetObject", "PutObject", "AssumeRole", "DescribeInstances", "ListBuckets", "ConsoleLogin",
              "CreateUser", "GetCallerIdentity", "Decrypt", "GenerateDataKey", "RunInstances", "DeleteObject"]
SERVICES = ["s3.amazonaws.com", "sts.amazonaws.com", "ec2.amazonaws.com", "kms.amazonaws.com", "iam.amazonaws.com",
            "signin.amazonaws.com", "lambda.amazonaws.com"]
AGENTS = ["aws-cli/2.13.5 Python/3.11.4 Linux/6.1.0 exe/x86_64.debian.12 prompt/off command/s3.cp",
          "Boto3/1.28.0 md/Botocore#1.31.0 ua/2.0 os/linux#5.15.0 md/arch#x86_64 lang/python#3.10.12",
          "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/118.0",
          "console.amazonaws.com", "AWS Internal"]


def ocsf_rows(count, rng, start):
    rows = []
    for index in range(start, start + count):
        account = f"{rng.randrange(10**11, 10**12):012d}"
        operation = rng.choice(OPERATIONS)
        service = rng.choice(SERVICES)
        user = rng.choice(["alice", "bob", "carol", "deploy-bot", "ci-runner", "Admin-user"])
        failed = rng.random() < 0.08
        time = 1700000000000 + index * 37
        resources = [{"uid": f"arn:aws:s3:::bucket-{rng.randrange(400)}/{rng.getrandbits(64):016x}",
                      "type": rng.choice(["AWS::S3::Object", "AWS::S3::Bucket", "AWS::KMS::Key"]),
                      "owner": {"account_uid": account}} for _ in range(rng.randrange(0, 3))]
        rows.append({
            "metadata": {"product": {"version": "1.08", "name": "CloudTrail", "vendor_name": "AWS",
                                     "feature": {"name": rng.choice(["Management", "Data"])}},
                         "uid": f"{rng.getrandbits(128):032x}", "profiles": ["cloud", "datetime"],
                         "version": "1.1.0", "event_code": "AwsApiCall"},
            "time": time,
            "time_dt": time,
            "cloud": {"region": rng.choice(["us-east-1", "eu-west-1", "ap-south-1"]), "provider": "AWS"},
            "api": {"response": {"error": "AccessDenied" if failed else None,
                                 "message": "User is not authorized to perform this operation" if failed else None},
                    "operation": operation, "version": None, "service": {"name": service},
                    "request": {"uid": f"{rng.getrandbits(64):016X}"}},
            "actor": {"user": {"type": rng.choice(["IAMUser", "AssumedRole", "AWSService"]), "name": user,
                               "uid": f"AIDA{rng.getrandbits(64):016X}", "uid_alt": f"arn:aws:iam::{account}:user/{user}",
                               "account": {"uid": account}, "credential_uid": f"ASIA{rng.getrandbits(64):016X}"},
                      "session": {"created_time": time - rng.randrange(3600000), "is_mfa": rng.random() < 0.5,
                                  "issuer": f"arn:aws:iam::{account}:role/Admin"},
                      "invoked_by": service if rng.random() < 0.2 else None, "idp": None},
            "http_request": {"user_agent": rng.choice(AGENTS)},
            "src_endpoint": {"ip": f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}",
                             "domain": None, "uid": None},
            "resources": resources,
            "class_name": "API Activity", "class_uid": 6003, "category_name": "Application Activity",
            "category_uid": 6, "severity_id": 1, "severity": "Informational",
            "activity_name": rng.choice(["Create", "Read", "Update", "Delete"]), "activity_id": rng.randrange(1, 5),
            "type_uid": 600300 + rng.randrange(1, 5), "type_name": f"API Activity: {operation}",
            "status": "Failure" if failed else "Success", "status_id": 2 if failed else 1,
            "unmapped": [("requestParameters.bucketName", f"bucket-{rng.randrange(400)}"),
                         ("eventType", "AwsApiCall"), ("recipientAccountId", account)],
            "observables": [{"name": "src_endpoint.ip", "type": "IP Address", "type_id": 2, "value": "192.0.2.1"}],
            "accountid": account,
            "region": "us-east-1",
        })
    return rows


def write_file(path, megabytes, rng):
    """Writes row groups of 50,000 rows until the file reaches `megabytes`; returns the row count."""
    rows_per_group = 50_000
    schema = pa.Table.from_pylist(ocsf_rows(200, random.Random(1), 0)).schema
    schema = schema.set(schema.get_field_index("time_dt"), pa.field("time_dt", pa.timestamp("ms", tz="UTC")))
    total = 0
    with pq.ParquetWriter(path, schema, compression="GZIP") as writer:
        while os.path.exists(path) and os.path.getsize(path) < megabytes * 1e6 or total == 0:
            writer.write_table(pa.Table.from_pylist(ocsf_rows(rows_per_group, rng, total), schema=schema),
                               row_group_size=rows_per_group)
            total += rows_per_group
    return total


PYARROW_JSON = """
import json, sys
import pyarrow.parquet as pq
source, target = sys.argv[1], sys.argv[2]
with open(target, "w") as out:
    for batch in pq.ParquetFile(source).iter_batches(batch_size=10000):
        for row in batch.to_pylist():
            out.write(json.dumps({k: v for k, v in row.items() if v is not None}, default=str, separators=(",", ":")))
            out.write("\\n")
"""

PYARROW_COLUMNAR = """
import sys
import pyarrow.parquet as pq
print(pq.read_table(sys.argv[1]).num_rows)
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trawl", required=True)
    parser.add_argument("--megabytes", type=int, default=100, help="size of the Parquet file")
    parser.add_argument("--repeat", type=int, default=3, help="attempts per reader; the median is shown")
    parser.add_argument("--cores", default="0", help="the cores every reader is pinned to (taskset -c)")
    args = parser.parse_args()
    cache = os.path.join(ROOT, ".build", "bench")
    os.makedirs(cache, exist_ok=True)
    path = os.path.join(cache, f"ocsf-api-activity-{args.megabytes}mb.gz.parquet")
    if not os.path.exists(path):
        print(f"==> Writing {path} with pyarrow (once; kept for later runs)")
        rows = write_file(path + ".partial", args.megabytes, random.Random(2026))
        os.rename(path + ".partial", path)
    metadata = pq.read_metadata(path)
    rows, size = metadata.num_rows, os.path.getsize(path)
    print(f"    {rows} rows in {metadata.num_row_groups} row groups, {size / 1e6:.0f} MB (GZIP), {metadata.created_by}")
    work = tempfile.mkdtemp(prefix="trawl-bench-parquet-")
    outputs = tempfile.mkdtemp(prefix="trawl-bench-parquet-", dir="/dev/shm" if os.path.isdir("/dev/shm") else work)
    try:
        config = os.path.join(work, "config.yaml")
        with open(config, "w") as out:
            out.write(f"""
globals: {{id: bench, hostname: bench, persistence: {{directory: {work}/state}}, spool_max_megabytes: 0}}
inputs:
  lake:
    id: 1
    type: amazon_security_lake
    credentials: {{aws_access_key_id: AKIDEXAMPLEBENCH0001, aws_secret_access_key: bench}}
    services:
      events: {{queue_name: unused, region: us-east-1}}
outputs:
  out: {{type: file, settings: {{path: {outputs}/trawl.log}}}}
""")
        readers = [
            ("trawl replay -> file", [args.trawl, "replay", "--config", config, "--service", "events", path],
             f"{outputs}/trawl.log"),
            ("pyarrow -> json.dumps", [sys.executable, "-c", PYARROW_JSON, path, f"{outputs}/pyarrow.json"],
             f"{outputs}/pyarrow.json"),
            ("pyarrow read_table (no JSON)", [sys.executable, "-c", PYARROW_COLUMNAR, path], None),
        ]
        results = []
        for label, command, output in readers:
            attempts = []
            for attempt in range(args.repeat):
                print(f"==> {label} (cores {args.cores}, attempt {attempt + 1})")
                elapsed, cpu, peak, _ = run([(command, args.cores)])
                written = 0
                if output:
                    written = os.path.getsize(output)
                    with open(output, "rb") as delivered:
                        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: delivered.read(1 << 22), b""))
                    os.remove(output)
                    assert lines == rows, f"{label}: {lines} rows written, {rows} expected"
                attempts.append((elapsed, cpu, peak, written))
            attempts.sort()
            results.append((label,) + attempts[len(attempts) // 2])
        reference = results[1][1]
        print()
        print(f"{rows} rows, {size / 1e6:.0f} MB Parquet; median of {args.repeat} attempts; cores {args.cores}")
        print(f"{'reader':30} {'seconds':>8} {'rows/s':>10} {'MB/s':>6} {'JSON MB/s':>10} {'vs pyarrow':>10} "
              f"{'CPU s':>6} {'peak RSS':>9}")
        for label, seconds, cpu, peak, written in results:
            json_rate = f"{written / 1e6 / seconds:10.0f}" if written else f"{'-':>10}"
            print(f"{label:30} {seconds:8.2f} {rows / seconds:10,.0f} {size / 1e6 / seconds:6.0f} {json_rate} "
                  f"{reference / seconds:10.2f} {cpu:6.2f} {str(peak >> 20) + ' MiB':>9}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(outputs, ignore_errors=True)


if __name__ == "__main__":
    main()
