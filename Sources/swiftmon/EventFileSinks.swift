import SwiftmonCore
import SwiftmonRules
import SwiftmonStore

/// Where `etl` and `evtx` put the events of the files they read: the output
/// and the store, behind the Sysmon configuration's rules (every event without
/// one) and the Sigma rules for Windows.
enum EventFileSinks {
    static func make(output: OutputOptions, config: String?, store: String?, sigma: SigmaOptions,
                     warn: (String) -> Void) throws -> (sink: FanOutSink, store: StoreSink?) {
        let filter: EventFilter
        if let config {
            let (loaded, warnings) = try SysmonConfig.load(path: config)
            for w in warnings where !w.windowsOnly { warn("\(w)") }
            filter = SysmonFilter(RuleSet(loaded))
        } else {
            filter = LogEverything()
        }
        var sinks: [EventSink] = [try output.makeSink()]
        let storeSink = try store.map { try StoreSink(path: $0) }
        if let storeSink { sinks.append(storeSink) }
        let detector = try sigma.detector(products: ["windows"])
        return (FanOutSink(sinks: sinks, filter: filter, detector: detector), storeSink)
    }

    /// The options both commands share, as arguments: a file of the other
    /// format is handed to the other command with them.
    static func arguments(output: OutputOptions, summary: Bool, config: String?, store: String?, sigma: SigmaOptions) -> [String] {
        var a = output.arguments + sigma.arguments
        if summary { a.append("--summary") }
        if let config { a += ["--config", config] }
        if let store { a += ["--store", store] }
        return a
    }
}

extension SigmaOptions {
    /// These options as command-line arguments.
    var arguments: [String] {
        var a = paths.flatMap { ["--sigma", $0] }
        if let minimumLevel { a += ["--sigma-min-level", minimumLevel] }
        a += placeholders.flatMap { ["--sigma-placeholder", $0] }
        return a
    }
}
