// The one compilation unit of swiftmon's BPF object: every concern's file is
// included here, so they share one ring buffer, one set of loss counters and
// one scratch area per CPU (sensor.bpf.h), and load as one object.
#include "process.bpf.c"
#include "syscalls.bpf.c"
#include "file.bpf.c"
#include "network.bpf.c"
#include "module.bpf.c"
#include "access.bpf.c"
#include "ebpf.bpf.c"
#include "image.bpf.c"
#include "tamper.bpf.c"
#include "tamper_files.bpf.c"
