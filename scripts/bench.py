#!/usr/bin/env python3
"""The benchmark behind scripts/bench: seeds N gzip objects of Cloud Funnel-like JSON lines (~1 KB per
event, compressing about 8x) into moto, runs `trawl run --once` until the queue is empty, once per
configuration (`--runs`: the file output on one core and two, the relay output over TLS to a receiver
that discards and to rsyslog; `trawl replay` of the same files from disk, without the emulator sharing the
cores, to the file output and over TLS to a receiver that drops the ciphertext unread), and runs the same
files through `gzip -dc | wc -l` on one core as the reference and through `igzip -dc > file` (ISA-L inflating and writing, nothing else) as the file output's
floor, on one core and as two processes on two cores (half of the files each). Reports events/s, MB/s of uncompressed data, Trawl's CPU seconds and events per CPU second,
the CPU the peers (moto, the receivers) used meanwhile, and Trawl's peak RSS (VmHWM); then what the second core
gives each output, as the median over rounds of the paired one-core/two-core ratio. Every configuration runs
once per round, so the machine's drift falls on all of them alike. Peers are not pinned unless `--pin-peers`:
they may use either core, so a one-core run has the emulator and the receiver beside it on the other. For
the TLS runs it also reports the seconds from the first connection to the end, without the fixed wait
before the first write (the output's window for a refused client certificate) that no core shortens. Cores
joined by `+` (`file:0+1:2`) run one Trawl instance per core, sharing the queue, the state store and the
output file as instances on one host do: what the second core gives Trawl when its halves run in processes
of their own."""
import argparse
import datetime
import resource
import gzip
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

import boto3
from botocore.config import Config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "Tests", "Support", "peers"))
import aws_fixture  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"port {port} never opened")


def client(service, endpoint):
    return boto3.client(
        service, endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="AKIDEXAMPLEBENCH0001",
        aws_secret_access_key="bench", config=Config(s3={"addressing_style": "path"}),
    )


def cloud_funnel_input(queue, endpoint, service_settings):
    """The `inputs:` block of a configuration reading Cloud Funnel notifications from moto's `queue` with the
    bench's credentials; `service_settings` (YAML flow-mapping entries) follow the queue's own."""
    return f"""inputs:
  s1:
    id: 1
    type: sentinelone_cloud_funnel
    credentials: {{aws_access_key_id: AKIDEXAMPLEBENCH0001, aws_secret_access_key: bench}}
    services:
      cloud_funnel: {{queue_name: {queue}, region: us-east-1, endpoint_url: "{endpoint}", ack_messages: true, {service_settings}}}
"""


def peak_rss(pid, result, stop):
    while not stop.is_set():
        try:
            with open(f"/proc/{pid}/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        result[0] = max(result[0], int(line.split()[1]) * 1024)
        except OSError:
            return
        time.sleep(0.02)


def peer_cpu(process):
    """CPU seconds a peer (moto, rsyslog) has used so far."""
    if process is None:
        return 0.0
    try:
        with open(f"/proc/{process.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


def pin(process, cores):
    """Pins every thread of a running peer to `cores` (threads it starts later inherit it)."""
    if process is not None:
        subprocess.run(["taskset", "-a", "-p", "-c", cores, str(process.pid)], stdout=subprocess.DEVNULL, check=True)


def after_connecting(log):
    """Seconds from the output's first connection to the end of its sending, from Trawl's log lines (of every
    instance: the first connection to the last end); None for an output that does not connect."""
    def at(line):
        return datetime.datetime.fromisoformat(line.split()[0])
    lines = log.splitlines()
    connected = min((at(line) for line in lines if " -> Connected to " in line), default=None)
    stopped = max((at(line) for line in lines if " -> Sender out stopped." in line), default=None)
    return (stopped - connected).total_seconds() if connected and stopped else None


def write_rsyslog_conf(path, work, certificates, port, received):
    """An rsyslog configuration receiving Devo's lines over mutual TLS (make_certs.sh's certificates, the
    client's CN "mydomain") on loopback `port` and writing each as it came to `received`."""
    os.makedirs(os.path.join(work, "rsyslog-work"), exist_ok=True)
    with open(path, "w") as conf:
        conf.write(f"""
global(workDirectory="{work}/rsyslog-work" maxMessageSize="256k" parser.escapeControlCharactersOnReceive="off"
  DefaultNetstreamDriverCAFile="{certificates}/ca.crt" DefaultNetstreamDriverCertFile="{certificates}/server-fullchain.crt"
  DefaultNetstreamDriverKeyFile="{certificates}/server.key")
module(load="imtcp" StreamDriver.Name="gtls" StreamDriver.Mode="1" StreamDriver.AuthMode="x509/name" PermittedPeer=["mydomain"] MaxFrameSize="262144")
input(type="imtcp" address="127.0.0.1" port="{port}" ruleset="devo")
template(name="devoRaw" type="string" string="%rawmsg%\\n")
ruleset(name="devo") {{ action(type="omfile" file="{received}" template="devoRaw") }}
""")


def paired(results, one, two, field):
    """The per-round ratios of `field` (seconds, or seconds after connecting) of configuration `one` over
    configuration `two`, sorted; rounds where either lacks the figure are left out."""
    by_round = {result[5]: result[field] for result in results if result[0] == one and result[field] is not None}
    return sorted(by_round[result[5]] / result[field] for result in results
                  if result[0] == two and result[5] in by_round and result[field])


def run(pinned):
    """Runs each (command, cores) of `pinned` at once, each pinned to its cores, until all end; returns
    (seconds, CPU seconds, the sum of their peak RSS, their stderr)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    processes = [subprocess.Popen(["taskset", "-c", cores] + command, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True) for command, cores in pinned]
    peaks, stop = [[0] for _ in processes], threading.Event()
    watchers = [threading.Thread(target=peak_rss, args=(process.pid, peak, stop)) for process, peak in zip(processes, peaks)]
    for watcher in watchers:
        watcher.start()
    # Each process's standard error is read by a thread of its own, so none blocks on a full pipe.
    errors = [""] * len(processes)

    def drain(index):
        errors[index] = processes[index].communicate()[1]
    readers = [threading.Thread(target=drain, args=(index,)) for index in range(len(processes))]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join()
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    stop.set()
    for watcher in watchers:
        watcher.join()
    for (command, _), process, error in zip(pinned, processes, errors):
        if process.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed ({process.returncode}):\n{error[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu, sum(peak[0] for peak in peaks), "\n".join(errors)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trawl", required=True)
    parser.add_argument("--objects", type=int, default=16)
    parser.add_argument("--events", type=int, default=40000, help="events per object")
    parser.add_argument("--skip-tls", action="store_true")
    parser.add_argument("--repeat", type=int, default=5,
                        help="rounds, each running every configuration once; the median is shown")
    parser.add_argument("--pin-peers", action="store_true",
                        help="pin moto and the receivers to each run's cores too, so a one-core run shares its core "
                             "with them as a two-core run shares its two (unpinned, a one-core run has them on the "
                             "other core for free)")
    parser.add_argument("--records-per-commit", type=int, help="the service's records_per_commit (default: Trawl's)")
    parser.add_argument("--runs", default="file:0:2 file:0,1:3 replay:0:2 replay:0,1:3 tls-discard:0:2 tls-discard:0,1:3 tls:0,1:3",
                        help="space-separated output:cores:concurrency[:senders]; output is file, tls (rsyslog) or "
                             "tls-discard (a TLS receiver that decrypts and discards), replay (trawl replay of the same "
                             "files from disk to the file output, no emulator) or replay-tls (trawl replay to the relay "
                             "output over TLS, to a receiver that drops the ciphertext unread); cores as taskset takes "
                             "them, or joined by + for one instance per core (file, replay, replay-tls: instances "
                             "sharing the queue, the state store and the output file or receiver, a replay's files "
                             "split between them); senders is the relay output's (1 when left out)")
    args = parser.parse_args()
    for spec in args.runs.split():
        kind, cores = (spec.split(":") + [""])[:2]
        if "+" in cores and kind not in ("file", "replay", "replay-tls"):
            raise SystemExit(f"{spec}: instances (cores joined by +) are for the file, replay and replay-tls runs")
    work = tempfile.mkdtemp(prefix="trawl-bench-")
    # The file output fsyncs every write: on a RAM-backed directory that measures Trawl, not the disk.
    outputs = tempfile.mkdtemp(prefix="trawl-bench-", dir="/dev/shm" if os.path.isdir("/dev/shm") else work)
    moto_port = free_port()
    moto = subprocess.Popen([sys.executable, os.path.join(ROOT, "Tests", "Support", "peers", "moto_server.py"),
                             "-H", "127.0.0.1", "-p", str(moto_port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rsyslog = None
    try:
        wait_port(moto_port)
        endpoint = f"http://127.0.0.1:{moto_port}"
        s3, sqs = client("s3", endpoint), client("sqs", endpoint)
        print(f"==> Generating {args.objects} objects of {args.events} events (gzip level 6)")
        files, uncompressed = [], 0
        for n in range(args.objects):
            body = aws_fixture.funnel_lines(f"o{n}", args.events, 1000)
            uncompressed += len(body)
            path = os.path.join(work, f"{n:03d}.log.gz")
            with open(path, "wb") as out:
                out.write(gzip.compress(body, compresslevel=6))
            files.append(path)
        events = args.objects * args.events
        compressed = sum(os.path.getsize(f) for f in files)
        print(f"    {events} events, {uncompressed / 1e6:.0f} MB uncompressed, {compressed / 1e6:.0f} MB gzip")

        def seed(name):
            s3.create_bucket(Bucket=name)
            url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "600"})["QueueUrl"]
            for path in files:
                with open(path, "rb") as body:
                    s3.put_object(Bucket=name, Key=f"s1/cloud_funnel/{os.path.basename(path)}", Body=body)
                key = f"s1/cloud_funnel/{os.path.basename(path)}"
                record = {"eventVersion": "2.1", "eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
                          "s3": {"bucket": {"name": name}, "object": {"key": key}}}
                sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"Records": [record]}))
            return url

        def configuration(name, concurrency, output):
            extra = f", records_per_commit: {args.records_per_commit}" if args.records_per_commit else ""
            return f"""
globals: {{id: bench, hostname: bench, instance: "${{TRAWL_INSTANCE}}", persistence: {{directory: {work}/state-{name}}}}}
{cloud_funnel_input(name, endpoint, f"sqs_wait_timeout: 0, concurrency: {concurrency}{extra}")}outputs:
  out: {output}
"""

        results = []
        has_igzip = shutil.which("igzip") is not None

        def gzip_reference(round_):
            started = time.perf_counter()
            count = subprocess.run(["taskset", "-c", "0", "sh", "-c", "gzip -dc \"$@\" | wc -l", "sh"] + files,
                                   capture_output=True, text=True, check=True).stdout.strip()
            elapsed = time.perf_counter() - started
            assert int(count) == events, count
            results.append(("gzip -dc | wc -l (1 core)", elapsed, elapsed, 0, 0.0, round_, None))

        def igzip_floor(label, shares, round_):
            """One igzip process per (core, files) share, each writing a file of its own; all at once."""
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            processes = [subprocess.Popen(["taskset", "-c", str(core), "sh", "-c",
                                           f"igzip -dc \"$@\" > {outputs}/floor-{core}.log", "sh"] + part)
                         for core, part in shares]
            if any(status != 0 for status in [process.wait() for process in processes]):
                raise SystemExit("igzip failed")
            elapsed = time.perf_counter() - started
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            for core, _ in shares:
                os.remove(f"{outputs}/floor-{core}.log")
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            results.append((label, elapsed, cpu, 0, 0.0, round_, None))

        # output:cores:concurrency, and :senders for the relay output (1 when left out).
        runs = [tuple(spec.split(":")) + (("1",) if spec.count(":") == 2 else ()) for spec in args.runs.split()]
        if args.skip_tls:
            runs = [spec for spec in runs if not spec[0].startswith("tls") and spec[0] != "replay-tls"]
        elif not shutil.which("rsyslogd"):
            runs = [spec for spec in runs if spec[0] != "tls"]
        # Rounds: every configuration once per round, the references included. This machine's speed drifts within
        # minutes (igzip's floor had a median of 0.55 s in one run, 2.10 s in another); all repeats of one
        # configuration in a row would compare different moments.
        attempts = [(round_, spec) for round_ in range(args.repeat) for spec in [None] + runs]
        for index, (round_, spec) in enumerate(attempts):
            if spec is None:
                print(f"==> Round {round_ + 1} of {args.repeat}: gzip -dc | wc -l on one core (the reference)"
                      + (", igzip -dc > file on one core and on two (the floor)" if has_igzip else ""))
                gzip_reference(round_)
                if has_igzip:
                    # The floor for the file output: ISA-L's own inflater writing the lines to the same RAM-backed
                    # directory, nothing else (no HTTP, no splitting, no framing). Trawl cannot beat it on one core.
                    igzip_floor("igzip -dc > file (1 core, floor)", [(0, files)], round_)
                    # The same on two cores, each process inflating half of the files: what the machine's second
                    # core gives work that shares nothing but the kernel.
                    if len(files) > 1:
                        igzip_floor("igzip -dc > file (2 cores, halves)", [(0, files[0::2]), (1, files[1::2])], round_)
                continue
            kind, cores, concurrency, senders = spec
            name = f"bench-{index}"
            if not kind.startswith("replay"):
                seed(name)
            discard = None
            if kind in ("file", "replay"):
                output = f"{{type: file, settings: {{path: {outputs}/out-{index}.log}}}}"
            else:
                certificates = os.path.join(work, "certs")
                if not os.path.isdir(certificates):
                    os.makedirs(certificates)
                    subprocess.run(["bash", os.path.join(ROOT, "Tests/Support/peers/make_certs.sh"), certificates], check=True)
                if kind == "replay-tls":
                    # A TLS receiver that drops the ciphertext unread: it costs the two cores almost nothing, as
                    # a relay on another machine would, so the run measures Trawl's side of TLS alone.
                    discard = subprocess.Popen(
                        [sys.executable, os.path.join(ROOT, "Tests", "Support", "peers", "tls_ciphertext_sink.py"),
                         f"{certificates}/server-fullchain.crt", f"{certificates}/server.key", f"{certificates}/ca.crt"],
                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
                    port = int(discard.stdout.readline())
                elif kind == "tls-discard":
                    # A TLS receiver that reads and discards: what Trawl's relay output sends when the receiver
                    # is not the bound (rsyslog on these two cores is).
                    port = free_port()
                    discard = subprocess.Popen(
                        ["openssl", "s_server", "-quiet", "-accept", f"127.0.0.1:{port}",
                         "-cert", f"{certificates}/server-fullchain.crt", "-key", f"{certificates}/server.key"],
                        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    wait_port(port)
                elif rsyslog is None:
                    rsyslog_port = free_port()
                    port = rsyslog_port
                    rsyslog_conf = os.path.join(work, "rsyslog.conf")
                    write_rsyslog_conf(rsyslog_conf, work, certificates, port, f"{work}/received.log")
                    rsyslog = subprocess.Popen(["/usr/sbin/rsyslogd", "-n", "-f", rsyslog_conf, "-i", f"{work}/rsyslog.pid"],
                                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    wait_port(port)
                else:
                    port = rsyslog_port
                output = (f"{{type: relay, settings: {{address: localhost, port: {port}, tls: true, chain_filename: {certificates}/ca.crt, "
                          f"cert_filename: {certificates}/client.crt, key_filename: {certificates}/client.key, "
                          f"senders: {senders}}}}}")
            config = os.path.join(work, f"bench-{index}.yaml")
            with open(config, "w") as out:
                out.write(configuration(name, concurrency, output))
            wrapper = os.environ.get("TRAWL_BENCH_WRAPPER", "").split()
            if kind.startswith("replay"):
                # The same files from local disk through `trawl replay`: Trawl alone, no emulator sharing the
                # cores.
                print(f"==> trawl replay: {'file output' if kind == 'replay' else f'relay output over TLS, {senders} sender(s)'}, "
                      f"cores {cores}, concurrency {concurrency}")
                command = [args.trawl, "replay", "--concurrency", concurrency, "--config", config,
                           "--service", "cloud_funnel"] + files
            else:
                print(f"==> trawl run --once: {kind} output, cores {cores}, concurrency {concurrency}")
                command = [args.trawl, "run", "--once", "--config", config]
            # Cores joined by "+": one instance per core, sharing the queue, the state store and the output file
            # as instances on one host do (a replay gives each instance its share of the files).
            instances = cores.split("+")
            all_cores = ",".join(instances)
            pinned = []
            for number, instance_cores in enumerate(instances):
                share = command
                if kind.startswith("replay") and len(instances) > 1:
                    share = command[:-len(files)] + files[number::len(instances)]
                pinned.append((["env", f"TRAWL_INSTANCE=bench-{number}"] + wrapper + share, instance_cores))
            if args.pin_peers:
                for peer in (moto, rsyslog, discard):
                    pin(peer, all_cores)
            peers_before = peer_cpu(moto) + peer_cpu(rsyslog) + peer_cpu(discard)
            elapsed, cpu, peak, log = run(pinned)
            peers = peer_cpu(moto) + peer_cpu(rsyslog) + peer_cpu(discard) - peers_before
            if discard:
                discard.terminate()
                printed, _ = discard.communicate()
                if kind == "replay-tls":
                    # Every event's body (and its frame header) went over the wire.
                    assert int(printed.strip() or 0) > uncompressed, f"{printed.strip()} bytes received, over {uncompressed} expected"
            if kind in ("file", "replay"):
                with open(f"{outputs}/out-{index}.log", "rb") as delivered:
                    lines = sum(chunk.count(b"\n") for chunk in iter(lambda: delivered.read(1 << 22), b""))
                os.remove(f"{outputs}/out-{index}.log")
                assert lines == events, f"{lines} lines delivered, {events} expected"
            count = len(all_cores.split(","))
            label = (f"trawl -> {kind} ({count} core{'s' if count > 1 else ''}"
                     + (f" as {len(instances)} instances" if len(instances) > 1 else "") + f", x{concurrency}"
                     + (f", {senders} senders" if senders != "1" else "") + ")")
            results.append((label, elapsed, cpu, peak, peers, round_, after_connecting(log)))

        # The median attempt of each configuration (by seconds): one slow or fast run on a noisy machine
        # does not make the figure.
        medians = []
        for label in dict.fromkeys(result[0] for result in results):
            attempts = sorted((result for result in results if result[0] == label), key=lambda result: result[1])
            medians.append(attempts[len(attempts) // 2])
        reference = medians[0][1]
        floor = next((result[1] for result in medians if "floor" in result[0]), None)
        print()
        print(f"(median of {args.repeat} attempts each, one per round)")
        print(f"{'run':46} {'seconds':>8} {'events/s':>10} {'MB/s':>6} {'vs gzip':>8} {'CPU s':>6} "
              f"{'events/CPU s':>13} {'peers CPU s':>12} {'peak RSS':>9} {'vs floor':>9} {'after connecting s':>19}")
        for label, seconds, cpu, peak, peers, _, connected in medians:
            rate = events / seconds
            print(f"{label:46} {seconds:8.2f} {rate:10,.0f} {uncompressed / 1e6 / seconds:6.0f} "
                  f"{reference / seconds:8.2f} {cpu:6.2f} {events / cpu:13,.0f} {peers:12.2f} "
                  f"{str(peak >> 20) + ' MiB' if peak else '-':>9} "
                  f"{floor / seconds if floor else 0:9.2f} "
                  f"{f'{connected:.2f}' if connected is not None else '-':>19}")
        # What the second core gives: per round, the first one-core configuration of an output over each of its
        # two-core ones, paired so the machine's drift between rounds cancels; the median of those ratios.
        labels = [median[0] for median in medians]
        gains = []
        if "igzip -dc > file (2 cores, halves)" in labels:
            gains.append(("igzip -dc > file (two processes)", "igzip -dc > file (1 core, floor)",
                          "igzip -dc > file (2 cores, halves)"))
        for kind, senders in dict.fromkeys((spec[0], spec[3]) for spec in runs):
            suffix = f", {senders} senders)" if senders != "1" else ")"
            pick = [label for label in labels if label.startswith(f"trawl -> {kind} (")
                    and label.endswith(suffix) and (senders != "1" or "senders" not in label)]
            one = next((label for label in pick if "(1 core," in label), None)
            if one:
                gains += [(f"trawl -> {kind}" + (f", {senders} senders" if senders != "1" else ""), one, two)
                          for two in pick if "(2 cores" in two]
        if gains:
            print()
            print("Gain from the second core (median over rounds of one-core seconds / two-core seconds; for TLS "
                  "also of the seconds after connecting):")
            for name, one, two in gains:
                ratios, connected = paired(results, one, two, 1), paired(results, one, two, 6)
                steady = (f"; after connecting {connected[len(connected) // 2]:.2f}x, rounds "
                          f"{min(connected):.2f}-{max(connected):.2f}x" if connected else "")
                print(f"  {name:36} {ratios[len(ratios) // 2]:5.2f}x  ({one.split('(')[1].rstrip(')')} -> "
                      f"{two.split('(')[1].rstrip(')')}; rounds {min(ratios):.2f}-{max(ratios):.2f}x{steady})")
    finally:
        moto.terminate()
        if rsyslog:
            rsyslog.terminate()
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(outputs, ignore_errors=True)


if __name__ == "__main__":
    main()
