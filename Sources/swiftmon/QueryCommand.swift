import ArgumentParser
import Foundation
import SwiftmonCore
import SwiftmonSinks
import SwiftmonStore

/// `swiftmon query --store PATH …`: events from a store, also while a sensor writes to it.
struct Query: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "query",
        abstract: "Read events from a swiftmon store.",
        discussion: """
            Times are UTC: "2024-01-31 23:59:59.123", "2024-01-31T23:59:59Z", "2024-01-31", \
            @UNIXSECONDS, or an age such as 15m, 2h, 7d. Every filter given must match.
            """
    )

    @Option(help: "The store file.") var store: String
    @Option(name: .customLong("event"), help: "Only this EventID (repeatable).") var eventIDs: [Int] = []
    @Option(help: "Only this image: a full path, or a file name matching the last path component.") var image: String?
    @Option(help: "Only events of this ProcessGuid.") var guid: String?
    @Option(help: "Only events of this process id.") var pid: Int?
    @Option(help: "Only events at or after this time.") var since: String?
    @Option(help: "Only events at or before this time.") var until: String?
    @Option(help: "Only events whose command lines or paths contain this text (ASCII case ignored).") var contains: String?
    @Option(help: "Only events of processes in this container: a ContainerId or its start (12 characters, as docker ps shows), or a container name (lxc, systemd-nspawn).") var container: String?
    @Option(help: "Only events of this host (its Computer; ASCII case ignored), as `swiftmon import` recorded it.") var host: String?
    @Option(help: "At most this many events (0: no limit).") var limit = 1000
    @Flag(help: "Newest events first.") var newestFirst = false
    @OptionGroup var output: OutputOptions

    func run() throws {
        var filter = StoreFilter()
        filter.eventIDs = eventIDs
        filter.image = image
        filter.processGuid = guid
        filter.processID = pid
        filter.since = try since.map { try StoreExpression.time($0) }
        filter.until = try until.map { try StoreExpression.time($0) }
        filter.contains = contains
        filter.containerID = container
        filter.host = host
        filter.limit = limit == 0 ? nil : limit
        filter.newestFirst = newestFirst
        let reader = try StoreReader(path: store)
        // The same renderings as `run`. XML record ids count the query's
        // results: the sensor's ids are not stored.
        ignoreBrokenPipe()
        let sink = try output.makeSink(recordIDs: EventRecordCounter(startingAt: 1))
        struct ReaderGone: Error {}
        do {
            try reader.forEachEvent(matching: filter) { event in
                try sink.emit(event)
                if sink.destinationClosed { throw ReaderGone() }
            }
            try sink.flush()
        } catch is ReaderGone {
            return  // `swiftmon query | head`: the reader has what it wanted
        } catch where sink.destinationClosed {
            return
        }
    }
}
