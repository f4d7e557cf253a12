#!/usr/bin/env python3
"""Peer-side helper for Trawl's AWS tests: prepares a moto server with boto3, as an operator would with
the AWS CLI. Reads one JSON command on argv[1] (or stdin), prints one JSON answer. Never used by Trawl itself."""
import gzip
import hashlib
import json
import os
import sys

import boto3
from botocore.config import Config

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compress  # noqa: E402


def client(service, command):
    keys = command.get("keys") or {"id": "testing", "secret": "testing"}
    return boto3.client(
        service,
        endpoint_url=command["endpoint"],
        region_name=command.get("region", "us-east-1"),
        aws_access_key_id=keys["id"],
        aws_secret_access_key=keys["secret"],
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def pattern(size, seed):
    """Deterministic bytes: blocks of sha256(seed:index), so a reader can verify any size."""
    out = bytearray()
    index = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}:{index}".encode()).digest() * 128
        index += 1
    return bytes(out[:size])


def setup_auth(command):
    """Creates an admin user and a user with no permissions, each with an access key. Run first, while
    moto still accepts unsigned requests (INITIAL_NO_AUTH_ACTION_COUNT counts these five calls)."""
    iam = client("iam", command)
    answer = {}
    for name, policy in (("trawl-admin", True), ("trawl-limited", False)):
        iam.create_user(UserName=name)
        if policy:
            iam.put_user_policy(
                UserName=name,
                PolicyName="all",
                PolicyDocument=json.dumps(
                    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
                ),
            )
        key = iam.create_access_key(UserName=name)["AccessKey"]
        answer[name] = {"id": key["AccessKeyId"], "secret": key["SecretAccessKey"]}
    return answer


def bucket_queue(command):
    """A bucket (versioned with "versioned") whose ObjectCreated events go to a queue; answers the queue URL
    and ARN."""
    s3 = client("s3", command)
    sqs = client("sqs", command)
    s3.create_bucket(Bucket=command["bucket"])
    if command.get("versioned"):
        s3.put_bucket_versioning(Bucket=command["bucket"], VersioningConfiguration={"Status": "Enabled"})
    queue_url = sqs.create_queue(QueueName=command["queue"])["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    if command.get("notify", True):
        # Like AWS, moto then sends an s3:TestEvent message to the queue.
        s3.put_bucket_notification_configuration(
            Bucket=command["bucket"],
            NotificationConfiguration={"QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]},
        )
    return {"queue_url": queue_url, "queue_arn": arn}


def put(command):
    """Puts objects: {"key": ..., "text": ...} (written in "encoding", a Python codec, utf-8 by default),
    {"key": ..., "path": <a local file>} or
    {"key": ..., "size": N, "seed": S}, compressed with
    "compression" (gzip, gzip-multi, zstd, snappy, bzip2; none by default; "gzip-multi+gzip" compresses
    twice, inner first), cut to "truncate" bytes if
    given, stored in "storage_class" if given (GLACIER: archived, unreadable until restored); answers the sha256, size, ETag and version (in a versioned bucket) of each."""
    s3 = client("s3", command)
    answer = {}
    for item in command["objects"]:
        if "path" in item:
            with open(item["path"], "rb") as local:
                body = local.read()
        elif "text" in item:
            body = item["text"].encode(item.get("encoding", "utf-8"))
        else:
            body = pattern(item["size"], item.get("seed", "trawl"))
        for layer in item.get("compression", "none").split("+"):
            body = compress.one_or_multi(layer, body)
        if "truncate" in item:
            body = body[: int(item["truncate"])]
        extra = {"StorageClass": item["storage_class"]} if "storage_class" in item else {}
        put = s3.put_object(Bucket=command["bucket"], Key=item["key"], Body=body, **extra)
        answer[item["key"]] = {
            "sha256": hashlib.sha256(body).hexdigest(),
            "size": len(body),
            "etag": put["ETag"].strip('"'),
            "version": put.get("VersionId"),
        }
    return answer


def funnel_lines(prefix, count, size):
    """Cloud Funnel-like JSON lines of about `size` bytes with ids prefix-0, prefix-1...: Deep Visibility's long
    dotted keys, values from small vocabularies (images, users, hosts, event types) and a few random ones
    (hashes, ids, pids), so they compress about as real exports do (8-10x with gzip)."""
    categories = ["process", "file", "registry", "dns", "ip", "logins"]
    event_types = {"process": "Process Creation", "file": "File Modification", "registry": "Registry Value Modified",
                   "dns": "DNS Resolved", "ip": "IP Connect", "logins": "Login"}
    images = ["C:\\\\Windows\\\\System32\\\\svchost.exe", "C:\\\\Program Files\\\\Google\\\\Chrome\\\\Application\\\\chrome.exe",
              "C:\\\\Windows\\\\explorer.exe", "/usr/bin/python3", "/usr/sbin/sshd", "/usr/lib/systemd/systemd",
              "/Applications/Safari.app/Contents/MacOS/Safari", "/usr/local/bin/pwsh"]
    words = [hashlib.sha256(b"w%d" % n).hexdigest()[: 3 + n % 8] for n in range(256)]
    state = 12345
    def rand():
        nonlocal state
        state = (state * 1103515245 + 12345) & 0x7FFFFFFF
        return state >> 8
    def hexdigits(n):
        return "".join("%06x" % rand() for _ in range((n + 5) // 6))[:n]
    lines = []
    for i in range(count):
        category = categories[i % 6]
        host = rand() % 200
        image = images[(host % 3) * 3 + rand() % (3 if host % 3 < 2 else 2)]
        parent = images[(host % 3) * 3]
        fields = [
            ("event.category", '"%s"' % category), ("event.type", '"%s"' % event_types[category]),
            ("event.time", str(1795429000000 + i)), ("id", '"%s-%d"' % (prefix, i)),
            ("meta.event.name", '"%s"' % event_types[category].upper().replace(" ", "")),
            ("agent.uuid", '"4f1c%04x-9b1e-4c7e-a2d3-5e6f7a8b%04x"' % (host, host)), ("agent.version", '"23.4.2.14"'),
            ("endpoint.name", '"WS-%04d"' % host), ("endpoint.os", '"%s"' % ["windows", "linux", "macos"][host % 3]),
            ("endpoint.type", '"desktop"'), ("site.id", '"1234567890123456789"'), ("site.name", '"Default site"'),
            ("account.id", '"9876543210987654321"'), ("account.name", '"Example Corp"'),
            ("src.process.uid", '"%s"' % hexdigits(16)), ("src.process.pid", str(rand() % 65536)),
            ("src.process.name", '"%s"' % image.rsplit("\\\\", 1)[-1].rsplit("/", 1)[-1]),
            ("src.process.image.path", '"%s"' % image), ("src.process.image.sha1", '"%s"' % hexdigits(40)),
            ("src.process.user", '"CORP\\\\user%03d"' % (rand() % 500)), ("src.process.integrityLevel", '"MEDIUM"'),
            ("src.process.parent.name", '"%s"' % parent.rsplit("\\\\", 1)[-1].rsplit("/", 1)[-1]),
            ("src.process.parent.image.path", '"%s"' % parent), ("src.process.storyline.id", '"%s"' % hexdigits(16)),
        ]
        head = "{" + ",".join('"%s":%s' % field for field in fields) + ',"src.process.cmdline":"'
        pad = [image]
        length = len(head) + len(image) + 3
        while length < size:
            word = "--" + words[rand() % 256]
            pad.append(word)
            length += len(word) + 1
        lines.append(head + " ".join(pad) + '"}\n')
    return "".join(lines).encode()


def put_lines(command):
    """Puts gzip objects of generated JSON lines: {"objects": [{"key", "prefix", "count", "size"}]}."""
    s3 = client("s3", command)
    answer = {}
    for item in command["objects"]:
        body = funnel_lines(item["prefix"], int(item["count"]), int(item.get("size", 1000)))
        answer[item["key"]] = {"uncompressed": len(body)}
        s3.put_object(Bucket=command["bucket"], Key=item["key"], Body=gzip.compress(body, compresslevel=1))
    return answer


def send(command):
    sqs = client("sqs", command)
    for body in command["bodies"]:
        sqs.send_message(QueueUrl=command["queue_url"], MessageBody=body)
    return {"sent": len(command["bodies"])}


def release(command):
    """Makes received messages visible again at once (what their visibility timeout expiring does)."""
    sqs = client("sqs", command)
    released = 0
    for handle in command["receipt_handles"]:
        try:
            sqs.change_message_visibility(QueueUrl=command["queue_url"], ReceiptHandle=handle, VisibilityTimeout=0)
            released += 1
        except Exception:  # deleted already: nothing to release
            pass
    return {"released": released}


def queue_count(command):
    sqs = client("sqs", command)
    attributes = sqs.get_queue_attributes(
        QueueUrl=command["queue_url"],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return {k: int(v) for k, v in attributes.items()}


def create_role(command):
    iam = client("iam", command)
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}
    role = iam.create_role(RoleName=command["name"], AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    iam.put_role_policy(
        RoleName=command["name"],
        PolicyName="all",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}),
    )
    return {"arn": role["Arn"]}


def delete_queue(command):
    client("sqs", command).delete_queue(QueueUrl=command["queue_url"])
    return {}


def delete_object(command):
    """Deletes a key (in a versioned bucket: puts a delete marker, the versions stay)."""
    client("s3", command).delete_object(Bucket=command["bucket"], Key=command["key"])
    return {}


COMMANDS = {
    "setup-auth": setup_auth,
    "bucket-queue": bucket_queue,
    "put": put,
    "send": send,
    "put-lines": put_lines,
    "release": release,
    "queue-count": queue_count,
    "create-role": create_role,
    "delete-queue": delete_queue,
    "delete-object": delete_object,
}

if __name__ == "__main__":
    request = json.loads(sys.argv[1] if len(sys.argv) > 1 else sys.stdin.read())
    print(json.dumps(COMMANDS[request["command"]](request)))
