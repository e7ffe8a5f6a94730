import ArgumentParser
import SwiftmonLinux

extension Swiftmon {
    struct Sources: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the event sources and probes this machine supports (tries each; needs root).",
            discussion: """
                Loads and attaches swiftmon's eBPF programs one by one, opens the netlink \
                process connector and fanotify, and releases everything again. A probe marked \
                'no' is skipped by swiftmon run (optional) or stops it (required); without the \
                eBPF sensor, swiftmon run --source auto uses netlink and fanotify.
                """
        )

        func run() throws {
            for line in SourceSupport.probe() {
                let mark = line.available ? "yes" : "no "
                print("\(mark)  \(line.name.padding(toLength: 28, withPad: " ", startingAt: 0)) \(line.detail)")
            }
        }
    }
}
