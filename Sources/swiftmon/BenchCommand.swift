import ArgumentParser

/// `swiftmon bench …`: figures, not tests. Hidden from help.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure swiftmon's throughput (figures for reports, not tests).",
        shouldDisplay: false,
        subcommands: [BenchStore.self, BenchStoreWriter.self]
    )
}
