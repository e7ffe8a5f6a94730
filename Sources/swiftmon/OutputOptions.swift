import ArgumentParser
import SwiftmonCore
import SwiftmonSinks

/// How events are written: shared by every command that prints events.
struct OutputOptions: ParsableArguments {
    enum Format: String, ExpressibleByArgument, CaseIterable {
        case text, json
    }

    @Option(name: .long, help: "Output format: text (one readable line per event) or json (one JSON object per line, every field in schema order).")
    var format: Format = .text

    @Option(name: [.short, .long], help: ArgumentHelp("Append events to this file (created with mode 0600) instead of standard output.", valueName: "file"))
    var output: String?

    func makeSink() throws -> EventSink {
        let out = try output.map { try FileOutput(path: $0) } ?? FileOutput(descriptor: 1)
        switch format {
        case .text: return TextSink(output: out)
        case .json: return JSONLinesSink(output: out)
        }
    }
}
