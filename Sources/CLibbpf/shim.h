// libbpf's public API, as Debian's libbpf-dev installs it.
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>

// The name of BPF helper `id` ("bpf_find_vma"), for messages; NULL for a
// helper newer than these headers. Swift cannot import the
// __BPF_FUNC_MAPPER macro (linux/bpf.h) that lists them in number order.
static inline const char *sm_bpf_helper_name(unsigned int id)
{
#define SM_BPF_HELPER_NAME(name, ...) "bpf_" #name
    static const char *const names[] = { __BPF_FUNC_MAPPER(SM_BPF_HELPER_NAME) };
#undef SM_BPF_HELPER_NAME
    return id < sizeof(names) / sizeof(names[0]) ? names[id] : 0;
}
