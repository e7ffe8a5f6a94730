// CRC-32 (IEEE 802.3, reflected) by folding with carry-less multiplication:
// four 128-bit lanes folded 64 bytes at a time, then one lane, then a Barrett
// reduction to 32 bits (Gopal et al., "Fast CRC Computation for Generic
// Polynomials Using PCLMULQDQ", Intel 2009). The constants are x^k mod P(x)
// for P = 0x104C11DB7, bit-reflected. The table-driven Swift code
// (SwiftmonEvtx.CRC32) does short inputs and the tail; tests compare both.
#include "swiftmon_crc32.h"

#if defined(__x86_64__)
#include <immintrin.h>

int swiftmon_crc32_has_clmul(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
}

__attribute__((target("pclmul,sse4.1")))
uint32_t swiftmon_crc32_clmul(uint32_t state, const void *bytes, size_t length) {
    const uint8_t *p = bytes;
    __m128i x1 = _mm_loadu_si128((const __m128i *)(p + 0));
    __m128i x2 = _mm_loadu_si128((const __m128i *)(p + 16));
    __m128i x3 = _mm_loadu_si128((const __m128i *)(p + 32));
    __m128i x4 = _mm_loadu_si128((const __m128i *)(p + 48));
    x1 = _mm_xor_si128(x1, _mm_cvtsi32_si128((int)state));
    p += 64;
    length -= 64;
    // x^(4·128+32) and x^(4·128−32) mod P: fold 512 bits forward.
    __m128i k = _mm_set_epi64x(0x1c6e41596, 0x154442bd4);
    while (length >= 64) {
#define FOLD(x, offset) do { \
        __m128i h = _mm_clmulepi64_si128(x, k, 0x11); \
        x = _mm_clmulepi64_si128(x, k, 0x00); \
        x = _mm_xor_si128(_mm_xor_si128(x, h), _mm_loadu_si128((const __m128i *)(p + offset))); \
    } while (0)
        FOLD(x1, 0); FOLD(x2, 16); FOLD(x3, 32); FOLD(x4, 48);
#undef FOLD
        p += 64;
        length -= 64;
    }
    // x^(128+32) and x^(128−32) mod P: fold 128 bits forward.
    k = _mm_set_epi64x(0x0ccaa009e, 0x1751997d0);
#define FOLD1(next) do { \
        __m128i h = _mm_clmulepi64_si128(x1, k, 0x11); \
        x1 = _mm_clmulepi64_si128(x1, k, 0x00); \
        x1 = _mm_xor_si128(_mm_xor_si128(x1, h), next); \
    } while (0)
    FOLD1(x2); FOLD1(x3); FOLD1(x4);
    while (length >= 16) {
        FOLD1(_mm_loadu_si128((const __m128i *)p));
        p += 16;
        length -= 16;
    }
#undef FOLD1
    // 128 → 64 bits (appending 32 zero bits), then 64 → 32 bits.
    __m128i mask32 = _mm_set_epi32(0, 0, 0, -1);
    __m128i t = _mm_clmulepi64_si128(k, x1, 0x01);
    x1 = _mm_xor_si128(_mm_srli_si128(x1, 8), t);
    t = _mm_srli_si128(x1, 4);
    x1 = _mm_clmulepi64_si128(_mm_and_si128(x1, mask32), _mm_set_epi64x(0, 0x163cd6124), 0x00);
    x1 = _mm_xor_si128(x1, t);
    // Barrett reduction: mu = x^64 / P, then P itself (both reflected).
    __m128i u = _mm_set_epi64x(0x1f7011641, 0x1db710641);
    t = x1;
    x1 = _mm_clmulepi64_si128(_mm_and_si128(x1, mask32), u, 0x10);
    x1 = _mm_clmulepi64_si128(_mm_and_si128(x1, mask32), u, 0x00);
    x1 = _mm_xor_si128(x1, t);
    return (uint32_t)_mm_extract_epi32(x1, 1);
}

#else

int swiftmon_crc32_has_clmul(void) { return 0; }

uint32_t swiftmon_crc32_clmul(uint32_t state, const void *bytes, size_t length) {
    (void)bytes; (void)length;
    return state;
}

#endif
