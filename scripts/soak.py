#!/usr/bin/env python3
"""The soak run behind scripts/soak: `trawl run` (not --once) for a long while against moto, with objects
arriving all the time, to two outputs at once by default (the file output, and the relay output over mutual TLS to
rsyslog), while rsyslog is stopped now and then for an outage and started again. It samples Trawl's memory
(VmRSS), open descriptors and threads as it goes, then lets the queue drain, stops Trawl with SIGTERM, and
checks what arrived: every record once in the file; in rsyslog's file every record, counting the ones lost
or sent twice around the outages. Not a test: it prints what it saw and exits 1 when the file output missed
or repeated a record, the heap Trawl has in use grew (a leak) or its RSS or descriptors passed the bounds
given, or Trawl did not stop cleanly.

Notifications vary as a queue's do: an S3 event per message, every 20th wrapped in SNS, every 50th sent
twice (the ledger filters the second), and an s3:TestEvent now and then."""
import argparse
import collections
import datetime
import gzip
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

ROOT = bench.ROOT
PEERS = os.path.join(ROOT, "Tests", "Support", "peers")
sys.path.insert(0, PEERS)
import aws_fixture  # noqa: E402

RECORD_ID = re.compile(rb'[{,]"id":"([^"]+)"')
# Trawl's memory report: the RSS after it returned freed heap to the system, and malloc's heap in use (what a
# leak grows) and held as metadata. The RSS also counts the executable's pages and freed memory malloc keeps for
# reuse: the top of its second arena, up to 32 MiB, which a burst (a spool sent after an outage) raises once.
MEMORY_REPORT = re.compile(r"^(\S+) .*\[GC\] .*RSS\([0-9.]+MiB -> ([0-9.]+)MiB\)")
HEAP_FIGURE = re.compile(r"memory\.heap\.(in_use|held)=([0-9.]+)MiB")


def process_figures(pid):
    """(VmRSS bytes, open descriptors, threads) of a running process."""
    rss = threads = 0
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
    return rss, len(os.listdir(f"/proc/{pid}/fd")), threads


class LineCounter:
    """Counts the lines of a file that only grows, reading at each call only what was added since the last:
    the outputs' files reach gigabytes, and they are counted every sample and every poll of the drain."""

    def __init__(self, path):
        self.path, self.offset, self.lines = path, 0, 0

    def __call__(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    self.lines += chunk.count(b"\n")
                    self.offset += len(chunk)
        except FileNotFoundError:
            pass
        return self.lines


def record_ids(path):
    """How often each record id stands in the delivered lines of `path`."""
    counts = collections.Counter()
    try:
        with open(path, "rb") as f:
            for line in f:
                match = RECORD_ID.search(line)
                counts[match.group(1).decode() if match else "<no id>"] += 1
    except FileNotFoundError:
        pass
    return counts


def memory_reports(log_path):
    """(seconds since Trawl's first log line, RSS after freeing, heap in use, heap held) of each memory report, in
    MiB; the heap's figures are None where Trawl's malloc is not glibc's."""
    reports, first = [], None
    with open(log_path) as log:
        for line in log:
            stamp = line.split(" ", 1)[0]
            try:
                at = datetime.datetime.fromisoformat(stamp)
            except ValueError:
                continue
            first = first or at
            match = MEMORY_REPORT.match(line)
            if match:
                heap = dict((name, float(value)) for name, value in HEAP_FIGURE.findall(line))
                reports.append(((at - first).total_seconds(), float(match.group(2)), heap.get("in_use"),
                                heap.get("held")))
    return reports


def http_get(port, path):
    """(status, body) of GET http://127.0.0.1:port/path."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def metric_sum(text, name, **labels):
    """The sum of the samples of Prometheus metric `name` whose labels include `labels`."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            head, value = line.rsplit(" ", 1)
            if all(f'{key}="{wanted}"' in head for key, wanted in labels.items()):
                total += float(value)
    return total


def floor_growth_per_hour(samples):
    """How much the lowest value of the later half of (seconds, value) pairs exceeds that of the earlier half,
    per hour between the halves' middles. A leak raises the heap's floor steadily; the events in flight when a
    report is taken (an object being read, a spool being sent) raise single reports, not the floor, where a
    least-squares slope or the halves' peaks would count them."""
    if len(samples) < 2:
        return 0.0
    half = len(samples) // 2
    earlier, later = samples[:half], samples[half:]
    apart = statistics.fmean(t for t, _ in later) - statistics.fmean(t for t, _ in earlier)
    rise = min(v for _, v in later) - min(v for _, v in earlier)
    return 3600 * rise / apart if apart > 0 else 0.0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trawl", required=True)
    parser.add_argument("--minutes", type=float, default=30, help="how long objects keep arriving")
    parser.add_argument("--objects-per-minute", type=float, default=60)
    parser.add_argument("--events", type=int, default=1000, help="events per object (about 1 KB each)")
    parser.add_argument("--outage-every", type=float, default=10,
                        help="minutes between rsyslog outages (0: none); the first comes after half of it")
    parser.add_argument("--outage-seconds", type=float, default=60)
    parser.add_argument("--sample-seconds", type=float, default=30)
    parser.add_argument("--warm-up-minutes", type=float,
                        help="samples before this are left out of the growth figures (default: two minutes after "
                             "the first outage ends, or three without outages)")
    parser.add_argument("--max-heap-growth", type=float, default=5,
                        help="MiB per hour that the heap Trawl has in use (its memory report, every minute) may "
                             "grow by after the warm-up")
    parser.add_argument("--max-rss", type=float, default=150, help="MiB of VmRSS that fail the run")
    parser.add_argument("--max-fd-growth", type=int, default=8,
                        help="open descriptors more at the end than after the warm-up that fail the run")
    parser.add_argument("--outputs", choices=("both", "file", "relay"), default="both",
                        help="where Trawl sends: both outputs, or one alone to tell which one a growth comes from "
                             "(outages only with the relay)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    uses_file, uses_relay = args.outputs in ("both", "file"), args.outputs in ("both", "relay")
    if not uses_relay:
        args.outage_every = 0
    if args.warm_up_minutes is None:
        args.warm_up_minutes = args.outage_every / 2 + args.outage_seconds / 60 + 2 if args.outage_every > 0 else 3

    work = tempfile.mkdtemp(prefix="trawl-soak-")
    certificates = os.path.join(work, "certs")
    os.makedirs(certificates)
    subprocess.run(["bash", os.path.join(PEERS, "make_certs.sh"), certificates], check=True)
    moto = subprocess.Popen([sys.executable, os.path.join(PEERS, "moto_server.py"), "-H", "127.0.0.1", "-p", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    rsyslog_port = bench.free_port()
    rsyslog_conf = os.path.join(work, "rsyslog.conf")
    received = os.path.join(work, "received.log")
    bench.write_rsyslog_conf(rsyslog_conf, work, certificates, rsyslog_port, received)
    rsyslog = None
    trawl = None
    failures = []
    try:
        moto_port = int(moto.stdout.readline())
        endpoint = f"http://127.0.0.1:{moto_port}"
        s3, sqs = bench.client("s3", endpoint), bench.client("sqs", endpoint)
        s3.create_bucket(Bucket="soak")
        queue = sqs.create_queue(QueueName="soak", Attributes={"VisibilityTimeout": "120"})["QueueUrl"]

        def start_rsyslog():
            process = subprocess.Popen(["/usr/sbin/rsyslogd", "-n", "-f", rsyslog_conf, "-i", f"{work}/rsyslog.pid"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            bench.wait_port(rsyslog_port)
            return process

        rsyslog = start_rsyslog()
        http_port = bench.free_port()
        output_file = os.path.join(work, "out.log")
        file_lines, rsyslog_lines = LineCounter(output_file), LineCounter(received)
        config = os.path.join(work, "soak.yaml")
        with open(config, "w") as out:
            out.write(f"""
globals:
  id: soak
  hostname: soak
  persistence: {{directory: {work}/state}}
  memory_report_period_in_seconds: 60
  http_endpoint: {{enabled: true, port: {http_port}}}
{bench.cloud_funnel_input("soak", endpoint, "sqs_wait_timeout: 5, sqs_visibility_timeout: 120")}outputs:
""")
            if uses_file:
                out.write(f"  file: {{type: file, settings: {{path: {output_file}}}}}\n")
            if uses_relay:
                out.write(f"""  relay: {{type: relay, settings: {{address: localhost, port: {rsyslog_port}, tls: true,
           chain_filename: {certificates}/ca.crt, cert_filename: {certificates}/client.crt,
           key_filename: {certificates}/client.key}}}}
""")
        log_path = os.path.join(work, "trawl.log")
        log = open(log_path, "w")
        trawl = subprocess.Popen([args.trawl, "run", "--config", config], stdout=log, stderr=log)
        started = time.monotonic()
        seeding_ends = started + args.minutes * 60
        uploaded = [0]
        stop_seeding = threading.Event()

        def seed():
            """Uploads objects at the rate asked for, each announced by a notification."""
            interval = 60 / args.objects_per_minute
            n = 0
            while not stop_seeding.is_set() and time.monotonic() < seeding_ends:
                due = started + n * interval
                if time.monotonic() < due:
                    stop_seeding.wait(due - time.monotonic())
                    continue
                key = f"soak/{n:06d}.log.gz"
                body = gzip.compress(aws_fixture.funnel_lines(f"o{n}", args.events, 1000), compresslevel=6)
                s3.put_object(Bucket="soak", Key=key, Body=body)
                record = {"eventVersion": "2.1", "eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
                          "awsRegion": "us-east-1", "s3": {"bucket": {"name": "soak"}, "object": {"key": key}}}
                message = json.dumps({"Records": [record]})
                if n % 20 == 7:
                    message = json.dumps({"Type": "Notification", "MessageId": f"sns-{n}",
                                          "TopicArn": "arn:aws:sns:us-east-1:123456789012:soak", "Message": message})
                for _ in range(2 if n % 50 == 3 else 1):
                    sqs.send_message(QueueUrl=queue, MessageBody=message)
                if n % 100 == 42:
                    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(
                        {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "soak"}))
                n += 1
                uploaded[0] = n

        seeder = threading.Thread(target=seed)
        seeder.start()
        samples = []
        outages = []
        next_sample = started
        next_outage = started + args.outage_every * 30 if args.outage_every > 0 else None
        print(f"==> Soaking for {args.minutes:g} minutes: {args.objects_per_minute:g} objects of {args.events} events "
              f"per minute; rsyslog stopped for {args.outage_seconds:g} s every {args.outage_every:g} minutes; work "
              f"directory {work}")
        print(f"{'minute':>6} {'RSS MiB':>8} {'fds':>5} {'threads':>7} {'uploaded':>8} {'file lines':>10} "
              f"{'rsyslog lines':>13}")
        while time.monotonic() < seeding_ends:
            now = time.monotonic()
            if trawl.poll() is not None:
                raise SystemExit(f"trawl run ended early ({trawl.returncode}); its log: {log_path}")
            if next_outage is not None and now >= next_outage and now + args.outage_seconds < seeding_ends:
                rsyslog.send_signal(signal.SIGTERM)
                rsyslog.wait(30)
                outage_started = time.monotonic()
                time.sleep(args.outage_seconds / 2)
                ready = http_get(http_port, "/ready")
                if ready[0] != 503 or "output relay" not in ready[1]:
                    failures.append(f"/ready answered {ready[0]} {ready[1].strip()!r} while rsyslog was down")
                time.sleep(max(0.0, outage_started + args.outage_seconds - time.monotonic()))
                rsyslog = start_rsyslog()
                outages.append((outage_started - started, time.monotonic() - outage_started))
                print(f"       rsyslog was stopped for {outages[-1][1]:.0f} s from minute {outages[-1][0] / 60:.1f}")
                next_outage += args.outage_every * 60
                next_sample = time.monotonic()
                continue
            if now >= next_sample:
                rss, fds, threads = process_figures(trawl.pid)
                samples.append((now - started, rss, fds, threads))
                print(f"{(now - started) / 60:6.1f} {rss / 2**20:8.1f} {fds:5d} {threads:7d} {uploaded[0]:8d} "
                      f"{file_lines():10d} {rsyslog_lines():13d}", flush=True)
                next_sample += args.sample_seconds
            time.sleep(min(1.0, max(0.0, next_sample - time.monotonic())))
        stop_seeding.set()
        seeder.join()
        expected = uploaded[0] * args.events
        print(f"==> {uploaded[0]} objects ({expected} records) uploaded; waiting for the queue to drain")
        drain_deadline = time.monotonic() + 600
        while time.monotonic() < drain_deadline:
            attributes = sqs.get_queue_attributes(
                QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
            )["Attributes"]
            queued = int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])
            if queued == 0 and (not uses_file or file_lines() >= expected) and (
                    not uses_relay or rsyslog_lines() >= expected):
                break
            time.sleep(2)
        drained = time.monotonic() - started
        rss, fds, threads = process_figures(trawl.pid)
        samples.append((drained, rss, fds, threads))
        print(f"{drained / 60:6.1f} {rss / 2**20:8.1f} {fds:5d} {threads:7d} {uploaded[0]:8d} "
              f"{file_lines():10d} {rsyslog_lines():13d}  (drained)")
        ready = http_get(http_port, "/ready")
        if ready[0] != 200:
            failures.append(f"/ready answered {ready[0]} {ready[1].strip()!r} once the queue was drained")
        metrics = http_get(http_port, "/metrics")[1]
        repeats = sum(1 for n in range(uploaded[0]) if n % 50 == 3)
        filtered = metric_sum(metrics, "trawl_events_filtered_total")
        outcomes = {outcome: int(metric_sum(metrics, "trawl_sqs_messages_total", outcome=outcome))
                    for outcome in ("deleted", "failed", "poison", "not_deleted", "released")}
        tests = sum(1 for n in range(uploaded[0]) if n % 100 == 42)
        print(f"==> /metrics: messages by outcome {outcomes} ({uploaded[0] + repeats + tests} were sent); duplicated "
              f"events filtered out {filtered:.0f} ({repeats} notifications sent twice, {repeats * args.events} events)")
        if filtered != repeats * args.events:
            failures.append(f"the ledger filtered {filtered:.0f} events, not the {repeats * args.events} sent twice")
        trawl.send_signal(signal.SIGTERM)
        try:
            status = trawl.wait(60)
        except subprocess.TimeoutExpired:
            trawl.kill()
            status = trawl.wait()
            failures.append("trawl run did not stop within 60 s of SIGTERM")
        log.close()
        if status != 0:
            failures.append(f"trawl run exited {status} after SIGTERM")

        ids = {f"o{n}-{i}" for n in range(uploaded[0]) for i in range(args.events)}
        checked = [("file output", output_file, True)] if uses_file else []
        checked += [("rsyslog (relay output)", received, False)] if uses_relay else []
        for name, path, strict in checked:
            counts = record_ids(path)
            missing = len(ids - counts.keys())
            repeated = sum(count - 1 for count in counts.values() if count > 1)
            foreign = sum(count for record, count in counts.items() if record not in ids)
            print(f"==> {name}: {sum(counts.values())} lines for {expected} records: {missing} missing, "
                  f"{repeated} repeated, {foreign} unknown")
            if strict and (missing or repeated or foreign):
                failures.append(f"the {name} did not get every record exactly once")
        with open(log_path) as f:
            levels = collections.Counter(words[1] for words in (line.split(maxsplit=2) for line in f)
                                         if len(words) > 1 and words[1] in ("WARNING", "ERROR", "CRITICAL"))
        print(f"==> Trawl's log: {dict(levels) or 'no warnings or errors'} ({log_path})")
        steady = [sample for sample in samples if sample[0] >= args.warm_up_minutes * 60]
        reports = [report for report in memory_reports(log_path) if report[0] >= args.warm_up_minutes * 60]
        peak_rss = max(sample[1] for sample in samples) / 2**20
        print(f"==> VmRSS at most {peak_rss:.1f} MiB")
        if peak_rss > args.max_rss:
            failures.append(f"VmRSS reached {peak_rss:.1f} MiB (bound {args.max_rss:g})")
        heap = [(at, in_use) for at, _, in_use, _ in reports if in_use is not None]
        if len(steady) >= 2 and len(heap) >= 2:
            growth = floor_growth_per_hour(heap)
            fd_growth = steady[-1][2] - steady[0][2]
            print(f"==> After the warm-up ({args.warm_up_minutes:g} minutes), over {len(reports)} memory reports: heap "
                  f"in use {min(v for _, v in heap):.1f}-{max(v for _, v in heap):.1f} MiB (the later half's lowest "
                  f"{growth:+.1f} MiB/hour over the earlier half's), held by malloc {reports[0][3]:.1f} -> "
                  f"{reports[-1][3]:.1f} MiB; RSS kept after freeing {reports[0][1]:.1f} -> {reports[-1][1]:.1f} MiB "
                  f"(at most {max(report[1] for report in reports):.1f}); descriptors {steady[0][2]} -> {steady[-1][2]}; "
                  f"threads {steady[0][3]} -> {steady[-1][3]}")
            if growth > args.max_heap_growth:
                failures.append(f"the heap in use grew {growth:.1f} MiB/hour (bound {args.max_heap_growth:g})")
            if fd_growth > args.max_fd_growth:
                failures.append(f"open descriptors grew by {fd_growth} (bound {args.max_fd_growth})")
        elif reports and not heap:
            failures.append("Trawl's memory reports carry no heap figures (its malloc is not glibc's 2.33 or later)")
        else:
            failures.append("the run was too short to measure growth after the warm-up")
    finally:
        for process in (trawl, rsyslog, moto):
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
        if not args.keep and not failures:
            shutil.rmtree(work, ignore_errors=True)
    for failure in failures:
        print(f"FAILED: {failure}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
