#!/usr/bin/env python3
"""The Parquet oracle for Trawl's reader: pyarrow reads a file and renders every row as JSON in the
convention Trawl's reader documents (ParquetJSONValueWriter): fields in schema order, null object fields
left out (kept with --keep-nulls), maps as objects, dates YYYY-MM-DD, times HH:MM:SS.fff, timestamps
RFC 3339 with the unit's digits (Z when adjusted to UTC), decimals exact, floats in shortest round-trip
form (non-finite as null), binary as UTF-8 text.

  parquet_oracle.py render FILE [--keep-nulls]   one JSON object per line on stdout
  parquet_oracle.py write DIRECTORY              writes OCSF-like files in every codec, both data page
                                                 versions, with and without dictionaries; prints their paths
  parquet_oracle.py write-wide FILE              writes 310 string columns (dictionaries falling back to
                                                 PLAIN) and an integer-keyed map, in two row groups
  parquet_oracle.py write-one-row-group FILE ROWS
                                                 writes ROWS rows of two text columns as a single row group
                                                 (about 80 bytes each, rendered); prints the path
"""
import json
import sys

import pyarrow as pa
import pyarrow.parquet as pq


class Raw(str):
    """Text written into the JSON as is (numbers formatted here)."""


def civil(days):
    import datetime
    return datetime.date(1970, 1, 1) + datetime.timedelta(days=days)


def digits_for(unit):
    return {"s": (1, 0), "ms": (1000, 3), "us": (1000000, 6), "ns": (1000000000, 9)}[unit]


def fraction(value, digits):
    return "." + str(value).rjust(digits, "0") if digits else ""


def timestamp(value, unit, utc):
    scale, digits = digits_for(unit)
    seconds, part = divmod(value, scale)
    days, in_day = divmod(seconds, 86400)
    day = civil(days)
    text = "%04d-%02d-%02dT%02d:%02d:%02d%s" % (day.year, day.month, day.day, in_day // 3600, in_day // 60 % 60,
                                               in_day % 60, fraction(part, digits))
    return text + ("Z" if utc else "")


def decimal_text(value):
    sign, digits, exponent = value.as_tuple()
    unscaled = int("".join(map(str, digits)) or "0")
    scale = -exponent
    text = str(unscaled)
    if scale > 0:
        text = text.rjust(scale + 1, "0")
        text = text[:-scale] + "." + text[-scale:]
    elif scale < 0:
        text = text + "0" * (-scale)
    return Raw(("-" if sign and unscaled else "") + text)


def float_text(value):
    import math
    if not math.isfinite(value):
        return None
    return Raw(repr(float(value)))


def convert(scalar, keep_nulls):
    if not scalar.is_valid:
        return None
    kind = scalar.type
    if pa.types.is_struct(kind):
        result = {}
        for index in range(kind.num_fields):
            name = kind.field(index).name
            value = convert(scalar[index], keep_nulls)
            if value is not None or keep_nulls:
                result[name] = value
        return result
    if pa.types.is_map(kind):
        result = {}
        entries = scalar.values
        if entries is not None:
            for index in range(len(entries)):
                entry = entries[index]
                key = convert(entry[0], keep_nulls)
                result[str(key) if not isinstance(key, str) else key] = convert(entry[1], keep_nulls)
        return result
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        values = scalar.values
        return [] if values is None else [convert(values[index], keep_nulls) for index in range(len(values))]
    if pa.types.is_timestamp(kind):
        return timestamp(scalar.value, kind.unit, kind.tz is not None)
    if pa.types.is_date32(kind):
        day = civil(scalar.value)
        return "%04d-%02d-%02d" % (day.year, day.month, day.day)
    if pa.types.is_time32(kind) or pa.types.is_time64(kind):
        scale, digits = digits_for(kind.unit)
        seconds, part = divmod(scalar.value, scale)
        return "%02d:%02d:%02d%s" % (seconds // 3600, seconds // 60 % 60, seconds % 60, fraction(part, digits))
    if pa.types.is_decimal(kind):
        return decimal_text(scalar.as_py())
    if pa.types.is_floating(kind):
        return float_text(scalar.as_py())
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind) or pa.types.is_fixed_size_binary(kind):
        return scalar.as_py().decode("utf-8", "replace")
    if pa.types.is_dictionary(kind):
        return convert(scalar.value, keep_nulls)
    return scalar.as_py()


def dump(value):
    if value is None:
        return "null"
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ",".join(dump(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(json.dumps(key, ensure_ascii=False) + ":" + dump(item) for key, item in value.items()) + "}"
    raise TypeError(type(value))


def render(path, keep_nulls):
    table = pq.read_table(path)
    rows = table.to_batches()
    out = sys.stdout
    for batch in rows:
        structs = pa.StructArray.from_arrays(batch.columns, fields=list(batch.schema))
        for index in range(len(structs)):
            out.write(dump(convert(structs[index], keep_nulls)) + "\n")


OCSF_LIKE = pa.schema([
    ("time", pa.int64()),
    ("time_dt", pa.timestamp("ms", tz="UTC")),
    ("class_uid", pa.int32()),
    ("severity", pa.string()),
    ("metadata", pa.struct([
        ("version", pa.string()),
        ("product", pa.struct([("name", pa.string()), ("vendor_name", pa.string())])),
        ("labels", pa.list_(pa.string())),
    ])),
    ("observables", pa.list_(pa.struct([("name", pa.string()), ("type_id", pa.int32()), ("value", pa.string())]))),
    ("unmapped", pa.map_(pa.string(), pa.string())),
    ("src_endpoint", pa.struct([
        ("ip", pa.string()),
        ("port", pa.int32()),
        ("location", pa.struct([("lat", pa.float64()), ("lon", pa.float64())])),
    ])),
    ("matrix", pa.list_(pa.list_(pa.int64()))),
    ("amount", pa.decimal128(12, 3)),
    ("day", pa.date32()),
    ("tod", pa.time64("us")),
    ("ratio", pa.float32()),
    ("flag", pa.bool_()),
    ("seen_ns", pa.timestamp("ns")),
    ("small", pa.uint16()),
    ("blob", pa.binary()),
])


def ocsf_like_rows(count, seed):
    import decimal
    import random
    rng = random.Random(seed)

    def maybe(value, chance=0.15):
        return None if rng.random() < chance else value

    def text():
        return rng.choice(["", "a", "Informational", "ñandú ™ 漢字", "quote \" and \\ backslash", "tab\tnew\nline",
                           "x" * rng.randint(20, 300), "ctl \x01\x1f"])

    rows = []
    for index in range(count):
        rows.append({
            "time": 1700000000000 + index * 997,
            "time_dt": maybe(1700000000000 + index * 997),
            "class_uid": rng.choice([3001, 3002, 4001, 6003]),
            "severity": maybe(rng.choice(["Informational", "Low", "Medium", "High", "Critical"])),
            "metadata": maybe({
                "version": maybe("1.1.0"),
                "product": maybe({"name": maybe(text()), "vendor_name": maybe("AWS")}),
                "labels": maybe([maybe(text()) for _ in range(rng.randint(0, 3))]),
            }),
            "observables": maybe([maybe({"name": maybe(text()), "type_id": maybe(rng.randint(-5, 99)),
                                         "value": maybe(text())}) for _ in range(rng.randint(0, 4))]),
            "unmapped": maybe([(f"k{key}", maybe(text())) for key in range(rng.randint(0, 3))]),
            "src_endpoint": maybe({"ip": maybe("192.0.2.%d" % rng.randint(0, 255)), "port": maybe(rng.randint(0, 65535)),
                                   "location": maybe({"lat": maybe(rng.uniform(-90, 90)), "lon": maybe(rng.uniform(-180, 180))})}),
            "matrix": maybe([maybe([maybe(rng.randint(-2**40, 2**40)) for _ in range(rng.randint(0, 3))])
                             for _ in range(rng.randint(0, 3))]),
            "amount": maybe(decimal.Decimal(rng.randint(-10**11, 10**11)).scaleb(-3)),
            "day": maybe(rng.randint(-1000, 30000)),
            "tod": maybe(rng.randint(0, 86399999999)),
            "ratio": maybe(rng.choice([0.1, 1.5, -2.25, 1e-7, 3.4e38, rng.random()])),
            "flag": maybe(rng.random() < 0.5),
            "seen_ns": maybe(rng.randint(-10**18, 10**18)),
            "small": maybe(rng.randint(0, 65535)),
            "blob": maybe(bytes(rng.randint(32, 126) for _ in range(rng.randint(0, 12)))),
        })
    return rows


def write(directory):
    import os
    table = pa.Table.from_pylist(ocsf_like_rows(700, 7), schema=OCSF_LIKE)
    for codec in ["NONE", "SNAPPY", "GZIP", "ZSTD", "LZ4", "BROTLI"]:
        for version in ["1.0", "2.0"]:
            for dictionary in [True, False]:
                path = os.path.join(directory, f"ocsf-{codec.lower()}-v{version[0]}-{'dict' if dictionary else 'plain'}.parquet")
                pq.write_table(table, path, compression=codec, data_page_version=version, use_dictionary=dictionary,
                               row_group_size=250, data_page_size=4096)
                print(path)


def write_one_row_group(path, rows):
    table = pa.table({"event.category": ["file"] * rows, "padding": ["x" * 48] * rows})
    pq.write_table(table, path, compression="SNAPPY", row_group_size=rows)
    print(path)


def write_wide(path):
    """Over 300 string columns (more than the renderer holds in place at once), some of whose chunks start
    dictionary-encoded and fall back to PLAIN pages when the dictionary outgrows its 1 KiB limit, and maps
    keyed by integers; two row groups."""
    import random
    rng = random.Random(11)
    count = 600

    def maybe(value, chance=0.2):
        return None if rng.random() < chance else value

    columns = {}
    for column in range(310):
        if column % 3 == 0:
            values = [maybe(rng.choice(["alpha", "beta", "gamma \"q\"", "ñandú", ""])) for _ in range(count)]
        elif column % 3 == 1:
            values = [maybe("v%d-%s" % (row, "x" * rng.randint(0, 40))) for row in range(count)]
        else:
            values = [maybe(rng.choice(["eu-west-1", "us-east-1", "tab\there"]) + str(row % 50)) for row in range(count)]
        columns[f"c{column:03d}"] = pa.array(values, type=pa.string())
    columns["codes"] = pa.array(
        [maybe([(key, maybe("code %d" % key)) for key in rng.sample(range(-50, 50), rng.randint(0, 4))])
         for _ in range(count)],
        type=pa.map_(pa.int32(), pa.string()))
    pq.write_table(pa.table(columns), path, compression="SNAPPY", row_group_size=300, data_page_size=1024,
                   dictionary_pagesize_limit=1024)
    print(path)


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "render":
        render(sys.argv[2], "--keep-nulls" in sys.argv[3:])
    elif len(sys.argv) == 3 and sys.argv[1] == "write":
        write(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "write-wide":
        write_wide(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "write-one-row-group":
        write_one_row_group(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
