/* abi.c: a guest that claims a future ABI version. */
#include "atoll.h"
static atoll_buffer in_buf;
ATOLL_EXPORT(atoll_abi_version) int32_t atoll_abi_version(void) { return 2; }
ATOLL_EXPORT(atoll_alloc) uint8_t *atoll_alloc(uint32_t len) { return atoll_reserve(&in_buf, len ? len : 1); }
ATOLL_EXPORT(atoll_process) uint64_t atoll_process(const uint8_t *in, uint32_t len) { return ATOLL_RESULT(in, len); }
