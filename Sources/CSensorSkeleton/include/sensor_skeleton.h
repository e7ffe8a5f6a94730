// swiftmon's BPF object as `bpftool gen skeleton` describes it: typed maps,
// programs and .rodata settings. `make bpf` generates swiftmon_sensor.skel.h
// beside this file (not committed); it holds the object's bytes, so the
// binary needs no file beside it.
#pragma once
#include "swiftmon_sensor.skel.h"

// The skeleton's life cycle, compiled once in sensor_skeleton.c: Swift calls
// these instead of the skeleton's inline functions, so the object's bytes
// are in one C object file, and a new object rebuilds this target.
struct swiftmon_sensor *sm_sensor_open(void);
int sm_sensor_load(struct swiftmon_sensor *sensor);
void sm_sensor_destroy(struct swiftmon_sensor *sensor);
