#!/usr/bin/env python3
"""Peer-side helper for Trawl's tests: compresses stdin with a real implementation (Python's gzip, bz2 and
cramjam's zstd and snappy framing) and writes the result to stdout. argv[1] names the format; a "-multi"
suffix writes the input as several members, frames or streams (in three parts)."""
import bz2
import gzip
import sys

import cramjam


def one(kind, data):
    if kind == "gzip":
        return gzip.compress(data)
    if kind == "zstd":
        return bytes(cramjam.zstd.compress(data))
    if kind == "snappy":
        return bytes(cramjam.snappy.compress(data))
    if kind == "bzip2":
        return bz2.compress(data)
    if kind == "none":
        return data
    raise SystemExit(f"unknown format {kind}")


def one_or_multi(kind, data):
    if kind.endswith("-multi"):
        base = kind[: -len("-multi")]
        third = len(data) // 3
        parts = [data[:third], data[third : 2 * third], data[2 * third :]]
        return b"".join(one(base, part) for part in parts)
    return one(kind, data)


if __name__ == "__main__":
    sys.stdout.buffer.write(one_or_multi(sys.argv[1], sys.stdin.buffer.read()))
