#ifndef SWIFTMON_CRC32_H
#define SWIFTMON_CRC32_H

#include <stddef.h>
#include <stdint.h>

/// Whether this CPU has carry-less multiplication (PCLMULQDQ with SSE4.1).
int swiftmon_crc32_has_clmul(void);

/// Folds `length` bytes at `bytes` (at least 64, a multiple of 16) into the
/// CRC-32 (IEEE, reflected) register `state` — the register, not the final
/// value: the caller does the bit inversions — with PCLMULQDQ. Only call it
/// when swiftmon_crc32_has_clmul() is true.
uint32_t swiftmon_crc32_clmul(uint32_t state, const void *bytes, size_t length);

#endif
