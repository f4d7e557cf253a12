#!/usr/bin/env python3
"""The Parquet oracle for Trawl's reader: pyarrow reads a file and renders every row as JSON in the
convention Trawl's reader documents (ParquetJSONValueWriter): fields in schema order, null object fields
left out (kept with --keep-nulls), maps as objects, dates YYYY-MM-DD, times HH:MM:SS.fff, timestamps
RFC 3339 with the unit's digits (Z when adjusted to UTC), decimals exact, floats in shortest round-trip
form (non-finite as null), binary as UTF-8 text.

  parquet_oracle.py render FILE [--keep-nulls]   one JSON object per line on stdout
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


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "render":
        render(sys.argv[2], "--keep-nulls" in sys.argv[3:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
