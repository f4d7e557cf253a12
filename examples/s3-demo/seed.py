#!/usr/bin/env python3
"""Prepares the S3+SQS demo on a local AWS emulator (moto): two buckets whose object-created notifications
go to two queues, as AWS is set up for SentinelOne Cloud Funnel and for CloudTrail, then uploads gzip
objects of realistic records. Usage: seed.py ENDPOINT [OBJECTS_PER_SOURCE]. Prints what it uploaded."""
import gzip
import json
import random
import sys

import boto3
from botocore.config import Config

ENDPOINT = sys.argv[1]
OBJECTS = int(sys.argv[2]) if len(sys.argv) > 2 else 6
REGION = "us-east-1"
ACCOUNT = "123456789012"
random.seed(7)


def client(service):
    return boto3.client(
        service,
        endpoint_url=ENDPOINT,
        region_name=REGION,
        aws_access_key_id="AKIDEXAMPLEDEMO00001",
        aws_secret_access_key="demo-secret",
        config=Config(s3={"addressing_style": "path"}),
    )


s3 = client("s3")
sqs = client("sqs")


def bucket_with_queue(name):
    s3.create_bucket(Bucket=name)
    url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "120"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(
        Bucket=name,
        NotificationConfiguration={"QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]},
    )
    return url


CATEGORIES = [
    ("process", "Process Creation", "PROCESSCREATION"),
    ("file", "File Modification", "FILEMODIFICATION"),
    ("registry", "Registry Value Create", "REGVALUECREATE"),
    ("dns", "DNS Resolved", "DNS"),
    ("ip", "IP Connect", "TCPV4"),
    ("logins", "Login", "LOGIN"),
    ("cross_process", "Duplicate Process Handle", "DUPPROCESS"),
    ("indicators", "Behavioral Indicators", "BEHAVIORALINDICATORS"),
    ("scheduled_task", "Task Delete", "TASKDELETE"),
    ("url", "GET", "HTTP"),
]
WEIGHTS = [18, 30, 25, 8, 6, 4, 3, 2, 2, 2]


def funnel_record(index, time_ms):
    category, event_type, name = random.choices(CATEGORIES, WEIGHTS)[0]
    record = {
        "event.category": category,
        "event.type": event_type,
        "meta.event.name": name,
        "event.time": time_ms,
        "timestamp": "10:24:%02d.%03d" % (index % 60, index % 1000),
        "account.id": "1710000000000000000",
        "site.id": "1710000000000000001",
        "agent.uuid": "5a8a7c1e-0f0e-4c5e-9d43-%012d" % (index % 40),
        "endpoint.name": "WKS-%03d" % (index % 40),
        "endpoint.os": "windows",
        "src.process.name": random.choice(["chrome.exe", "powershell.exe", "svchost.exe", "outlook.exe"]),
        "src.process.pid": 1000 + index % 5000,
        "src.process.user": "CORP\\\\user%02d" % (index % 25),
        "src.process.cmdline": "\"C:\\\\Program Files\\\\App\\\\app.exe\" --id %d" % index,
        "src.process.Storyline\u2122.id": "%016X" % (index * 7919),
    }
    if category == "dns":
        record["event.dns.request"] = "host%d.example.com" % (index % 300)
    elif category == "ip":
        record["dst.ip.address"] = "203.0.113.%d" % (index % 250)
        record["dst.port.number"] = 443
    elif category in ("file", "registry"):
        record["tgt.file.path"] = "C:\\\\Users\\\\user%02d\\\\AppData\\\\f%d.tmp" % (index % 25, index)
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def cloudtrail_record(index):
    return {
        "eventVersion": "1.08",
        "userIdentity": {"type": "IAMUser", "accountId": ACCOUNT, "userName": "analyst%d" % (index % 5)},
        "eventTime": "2026-11-23T10:%02d:%02dZ" % (index // 60 % 60, index % 60),
        "eventSource": random.choice(["s3.amazonaws.com", "ec2.amazonaws.com", "iam.amazonaws.com"]),
        "eventName": random.choice(["GetObject", "DescribeInstances", "ListUsers", "ConsoleLogin"]),
        "awsRegion": REGION,
        "sourceIPAddress": "198.51.100.%d" % (index % 250),
        "userAgent": "aws-cli/2.15.0",
        "requestParameters": {"bucketName": "reports", "key": "q%d.csv" % index},
        "eventID": "0b7f%028x" % index,
        "readOnly": True,
        "eventType": "AwsApiCall",
        "recipientAccountId": ACCOUNT,
    }


funnel_queue = bucket_with_queue("trawl-demo-cloud-funnel")
trail_queue = bucket_with_queue("trawl-demo-cloudtrail")
funnel_events = trail_events = 0
for n in range(OBJECTS):
    lines = [funnel_record(n * 1000 + i, 1795429000000 + n * 1000 + i) for i in range(800)]
    key = "s1/cloud_funnel/2026/11/23/account_id=1710000000000000000/%02d-%d.log.gz" % (n, n * 7)
    s3.put_object(Bucket="trawl-demo-cloud-funnel", Key=key, Body=gzip.compress("\n".join(lines).encode() + b"\n"))
    funnel_events += len(lines)
for n in range(max(1, OBJECTS // 2)):
    records = [cloudtrail_record(n * 100 + i) for i in range(150)]
    key = "AWSLogs/%s/CloudTrail/%s/2026/11/23/%s_CloudTrail_%s_20261123T10%02dZ_demo%d.json.gz" % (
        ACCOUNT, REGION, ACCOUNT, REGION, n, n)
    s3.put_object(Bucket="trawl-demo-cloudtrail", Key=key, Body=gzip.compress(json.dumps({"Records": records}).encode()))
    trail_events += len(records)
digest = "AWSLogs/%s/CloudTrail-Digest/%s/2026/11/23/%s_CloudTrail-Digest_%s_demo.json.gz" % (ACCOUNT, REGION, ACCOUNT, REGION)
s3.put_object(Bucket="trawl-demo-cloudtrail", Key=digest, Body=gzip.compress(b'{"awsAccountId":"123456789012"}'))
print(
    "uploaded %d Cloud Funnel objects (%d events) and %d CloudTrail objects (%d events) plus a digest file"
    % (OBJECTS, funnel_events, max(1, OBJECTS // 2), trail_events)
)
