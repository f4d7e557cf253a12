#ifndef TRAWL_TEXT_H
#define TRAWL_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/// Copies `count` bytes from `source` to `destination` if they are all ASCII and, when `escape_newlines`,
/// none is a newline; returns false, having copied some prefix, as soon as one is not.
///
/// Framing an event copies its body into the output's buffer and must first know that the body needs no
/// sanitizing (invalid UTF-8 replaced, newlines escaped). Nearly every record is plain ASCII: checking and
/// copying in one pass of 16-byte vectors reads the body once instead of twice, where the bytes would
/// otherwise be scanned eight at a time in Swift and then copied.
bool trawl_copy_plain_ascii(uint8_t *destination, const uint8_t *source, size_t count, bool escape_newlines);

#endif
