#include "trawl_json.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/// One 64-byte block as masks: bit i stands for the block's byte i.
typedef struct {
    uint64_t quotes;
    uint64_t backslashes;
    uint64_t opens;
    uint64_t closes;
} trawl_json_block;

static inline trawl_json_block trawl_json_classify(const uint8_t *bytes) {
    trawl_json_block block = {0, 0, 0, 0};
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i backslash = _mm_set1_epi8('\\');
    /* '[' and ']' are '{' and '}' without bit 0x20; no other byte becomes either with it set. */
    const __m128i case_bit = _mm_set1_epi8(0x20);
    const __m128i open = _mm_set1_epi8('{');
    const __m128i close = _mm_set1_epi8('}');
    for (int part = 0; part < 4; part++) {
        __m128i text = _mm_loadu_si128((const __m128i *)(bytes + 16 * part));
        __m128i folded = _mm_or_si128(text, case_bit);
        int shift = 16 * part;
        block.quotes |= (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(text, quote)) << shift;
        block.backslashes |= (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(text, backslash)) << shift;
        block.opens |= (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(folded, open)) << shift;
        block.closes |= (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(folded, close)) << shift;
    }
#else
    for (int index = 0; index < 64; index++) {
        uint8_t byte = bytes[index];
        uint64_t bit = (uint64_t)1 << index;
        if (byte == '"') block.quotes |= bit;
        if (byte == '\\') block.backslashes |= bit;
        if ((byte | 0x20) == '{') block.opens |= bit;
        if ((byte | 0x20) == '}') block.closes |= bit;
    }
#endif
    return block;
}

/// Bit i of the result is the parity of bits 0...i: with the quotes as input, the bytes from an opening
/// quote up to (not including) its closing one, when no quote is escaped.
static inline uint64_t trawl_prefix_xor(uint64_t bits) {
    bits ^= bits << 1;
    bits ^= bits << 2;
    bits ^= bits << 4;
    bits ^= bits << 8;
    bits ^= bits << 16;
    bits ^= bits << 32;
    return bits;
}

/// The escapes of a block: `starters`, the backslashes that escape the byte after them, and `escaped`, the
/// bytes so escaped, reading left to right from `carry` (byte 0 escaped by the block before).
static inline void trawl_json_escapes(uint64_t backslashes, uint64_t carry, uint64_t *starters, uint64_t *escaped) {
    uint64_t pending = backslashes & ~carry;
    *starters = 0;
    *escaped = carry;
    while (pending != 0) {
        uint64_t single = pending & (~pending + 1);
        uint64_t next = single << 1;
        *starters |= single;
        *escaped |= next;
        pending &= ~(single | next);
    }
}

size_t trawl_json_skip_nested(
    const uint8_t *bytes, size_t count, bool *in_string, bool *escape_next, int64_t *depth, int64_t stop_depth,
    bool *at_close) {
    size_t index = 0;
    uint64_t carry = *in_string ? ~(uint64_t)0 : 0;
    uint64_t escape_carry = *escape_next ? 1 : 0;
    int64_t level = *depth;
    *at_close = false;
    while (count - index >= 64) {
        trawl_json_block block = trawl_json_classify(bytes + index);
        uint64_t starters = 0;
        uint64_t escaped = escape_carry;
        if (block.backslashes != 0) {
            trawl_json_escapes(block.backslashes, escape_carry, &starters, &escaped);
        }
        uint64_t inside = trawl_prefix_xor(block.quotes & ~escaped) ^ carry;
        /* Escapes were read as if every backslash stood in a string; one outside (not JSON) is a plain
           byte to the byte-at-a-time tracker, which decides that block. */
        if ((starters & ~inside) != 0) {
            break;
        }
        uint64_t brackets = (block.opens | block.closes) & ~inside;
        while (brackets != 0) {
            int bit = __builtin_ctzll(brackets);
            if (block.opens & ((uint64_t)1 << bit)) {
                level++;
            } else if (level - 1 == stop_depth) {
                *depth = level;
                *in_string = false;
                *escape_next = false;
                *at_close = true;
                return index + (size_t)bit;
            } else {
                level--;
            }
            brackets &= brackets - 1;
        }
        carry = (inside >> 63) ? ~(uint64_t)0 : 0;
        escape_carry = starters >> 63;
        index += 64;
    }
    *depth = level;
    *in_string = carry != 0;
    *escape_next = escape_carry != 0;
    return index;
}

size_t trawl_json_string_stop(const uint8_t *bytes, size_t count) {
    size_t index = 0;
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i backslash = _mm_set1_epi8('\\');
    for (; index + 16 <= count; index += 16) {
        __m128i text = _mm_loadu_si128((const __m128i *)(bytes + index));
        int stops = _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(text, quote), _mm_cmpeq_epi8(text, backslash)));
        if (stops != 0) {
            return index + (size_t)__builtin_ctz((unsigned)stops);
        }
    }
#endif
    for (; index < count; index++) {
        if (bytes[index] == '"' || bytes[index] == '\\') {
            return index;
        }
    }
    return count;
}
