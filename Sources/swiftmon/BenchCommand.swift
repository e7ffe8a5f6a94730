import ArgumentParser

extension Swiftmon {
    /// `swiftmon bench …`: figures, not tests. Hidden from help.
    struct Bench: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "bench",
            abstract: "Measure swiftmon's throughput (figures, not tests).",
            shouldDisplay: false,
            subcommands: [EtlBench.self]
        )
    }
}
