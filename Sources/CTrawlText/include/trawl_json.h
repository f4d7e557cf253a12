#ifndef TRAWL_JSON_H
#define TRAWL_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/// Follows JSON text inside a value that closes at `stop_depth`, 64 bytes at a time, tracking only whether
/// each byte lies in a string, whether the next is escaped, and how deep the brackets outside strings nest;
/// returns how many bytes it followed, with `*in_string`, `*escape_next` and `*depth` as they stand after
/// them.
///
/// It stops before a closing bracket that would bring the depth to `stop_depth` (and sets `*at_close`),
/// before a block where a backslash stands outside a string (not JSON: the byte-at-a-time tracker reads
/// it), and before the last 63 bytes. A record (a CloudTrail event, a Firehose JSON object, a CloudWatch
/// Logs document of escaped JSON messages) spends nearly all its bytes inside strings between brackets
/// that do not end it: finding its end a byte at a time costs a branch per byte and a mispredicted one per
/// string, where 64-byte masks and a prefix XOR decide all of a block at once.
size_t trawl_json_skip_nested(
    const uint8_t *bytes, size_t count, bool *in_string, bool *escape_next, int64_t *depth, int64_t stop_depth,
    bool *at_close);

/// The index of the first quote or backslash in `bytes`, or `count` when there is none: where the plain text
/// of a JSON string ends. Checks 16 bytes at a time, where a byte loop takes a branch per byte.
size_t trawl_json_string_stop(const uint8_t *bytes, size_t count);

#endif
