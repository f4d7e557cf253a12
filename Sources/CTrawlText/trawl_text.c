#include "trawl_text.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

bool trawl_copy_plain_ascii(uint8_t *destination, const uint8_t *source, size_t count, bool escape_newlines) {
    size_t index = 0;
#if defined(__SSE2__)
    const __m128i newline = _mm_set1_epi8('\n');
    for (; index + 32 <= count; index += 32) {
        __m128i first = _mm_loadu_si128((const __m128i *)(source + index));
        __m128i second = _mm_loadu_si128((const __m128i *)(source + index + 16));
        /* The sign bit of each byte is set for bytes >= 0x80. */
        __m128i special = _mm_or_si128(first, second);
        if (escape_newlines) {
            __m128i newlines = _mm_or_si128(_mm_cmpeq_epi8(first, newline), _mm_cmpeq_epi8(second, newline));
            special = _mm_or_si128(special, newlines);
        }
        if (_mm_movemask_epi8(special) != 0) {
            return false;
        }
        _mm_storeu_si128((__m128i *)(destination + index), first);
        _mm_storeu_si128((__m128i *)(destination + index + 16), second);
    }
#endif
    for (; index < count; index++) {
        uint8_t byte = source[index];
        if (byte >= 0x80 || (escape_newlines && byte == '\n')) {
            return false;
        }
        destination[index] = byte;
    }
    return true;
}
