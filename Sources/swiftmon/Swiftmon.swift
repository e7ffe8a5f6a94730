import ArgumentParser

@main
struct Swiftmon: ParsableCommand {
    static let version = "0.1.0"
    static let configuration = CommandConfiguration(
        commandName: "swiftmon",
        abstract: "An endpoint activity monitor: kernel events in Sysmon's schema.",
        discussion: """
            swiftmon watches processes and threads through eBPF programs in the kernel and \
            writes each happening as one event in Sysmon's schema (EventID, field names and \
            order), to the terminal or as JSON lines.
            """,
        version: version,
        subcommands: [Run.self, Sources.self, Config.self, Etl.self, Query.self, Tree.self, Bench.self],
        defaultSubcommand: nil
    )
}
