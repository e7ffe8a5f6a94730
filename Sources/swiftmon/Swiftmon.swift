import ArgumentParser

@main
struct Swiftmon: ParsableCommand {
    static let version = "0.1.0"
    static let configuration = CommandConfiguration(
        commandName: "swiftmon",
        abstract: "An endpoint activity monitor: kernel events in Sysmon's schema.",
        discussion: """
            swiftmon watches a Linux machine through eBPF programs in the kernel: process and \
            thread start and exit, network connections (TCP connect/accept, UDP flows), files \
            created, deleted and renamed, kernel-module loads, executable mappings, raw \
            block-device opens, ptrace and cross-process memory access, BPF program loads and \
            systemd unit installs (without BPF: processes and files through the netlink process \
            connector and fanotify). It writes each as one event in Sysmon's schema (EventID, \
            field names and order), filtered by a Sysmon configuration, as text, JSON lines or \
            Sysmon XML, to a file, a SQLite store or syslog. It also reads Windows .etl traces \
            into the same events and checks and dumps Sysmon configurations.
            """,
        version: version,
        subcommands: [Run.self, Sources.self, Config.self, Service.self, Etl.self, Evtx.self, Import.self, Query.self, Tree.self, Sigma.self, Bench.self],
        defaultSubcommand: nil
    )
}
