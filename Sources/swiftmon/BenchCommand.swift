import ArgumentParser

extension Swiftmon {
    /// `swiftmon bench …`: figures for developers, hidden from help.
    struct Bench: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "bench",
            abstract: "Measure swiftmon's hot paths.",
            shouldDisplay: false,
            subcommands: [BenchDecode.self, BenchRules.self, EtlBench.self, EvtxBench.self, BenchStore.self, BenchStoreWriter.self, BenchSigma.self, BenchImport.self, BenchSpool.self]
        )
    }
}
