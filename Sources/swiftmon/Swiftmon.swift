import ArgumentParser

@main
struct Swiftmon: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "swiftmon",
        abstract: "An endpoint activity monitor: kernel events in Sysmon's schema.",
        subcommands: [Query.self, Tree.self, Bench.self]
    )
}
