// Linux sources: eBPF sensor.
