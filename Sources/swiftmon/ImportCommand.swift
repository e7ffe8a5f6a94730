import ArgumentParser
import SwiftmonCore
import SwiftmonImport
import SwiftmonSinks
import SwiftmonStore
import SwiftmonSystem

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension Swiftmon {
    /// `swiftmon import --store DB FILE…`: Sysmon event streams into a store.
    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import",
            abstract: "Read Sysmon event streams (syslog collector files, XML, JSON lines, .evtx, .etl) into a store.",
            discussion: """
                Each line may be a syslog line with any prefix (RFC 3164, RFC 5424, rsyslog's file \
                formats, with or without <pri>) followed by an <Event> document, a bare <Event> \
                document, or a JSON object as `swiftmon run --format json` writes it — from swiftmon \
                or from Microsoft's Sysmon for Linux, any syslog tag and Provider. Each event keeps \
                its host: the XML's Computer, else the syslog host, else --host; an .evtx record its \
                own Computer unless --host is given. Files starting \
                like an .evtx log or an .etl trace are read through their decoders. Importing the \
                same events again stores them once (key: host, EventID and every field value). \
                Malformed lines are reported with file:line and counted; the import goes on. Exit \
                status: 0 all read, 65 malformed lines or damaged files, 66 a file could not be \
                opened, 74 events could not be stored.
                """
        )

        @Option(help: ArgumentHelp("The store to import into (created 0600 when missing).", valueName: "path"))
        var store: String

        @Argument(help: ArgumentHelp("Files to read; - for standard input.", valueName: "file"))
        var files: [String]

        @Flag(help: "Follow the (one) file as tail -F does: read new lines as they are written, across rotations (rename and a new file, or truncation), until SIGINT or SIGTERM.")
        var follow = false

        @Option(help: ArgumentHelp("Host of events whose line names none (JSON lines, .etl files), and of every .evtx record instead of its Computer. Default: this machine's name; .evtx records keep their Computer.", valueName: "name"))
        var host: String?

        @Option(name: .customLong("max-line-bytes"), help: ArgumentHelp("Longer lines are malformed.", valueName: "bytes"))
        var maxLineBytes = SysmonLineParser.defaultMaxLineBytes

        @Flag(name: .customLong("summary-json"), help: "Print the counts as one JSON object on standard output.")
        var summaryJSON = false

        @OptionGroup var sigma: SigmaOptions

        func validate() throws {
            if files.isEmpty { throw ValidationError("name at least one file, or - for standard input") }
            if follow && files.count != 1 { throw ValidationError("--follow follows one file") }
            if follow && files == ["-"] { throw ValidationError("--follow needs a file; standard input is read to its end anyway") }
            if maxLineBytes < 1024 { throw ValidationError("--max-line-bytes must be at least 1024") }
        }

        func run() throws {
            ignoreBrokenPipe()
            var options = EventImporter.Options(defaultHost: host ?? SysmonXMLHeader.hostName())
            options.evtxHost = host
            options.maxLineBytes = maxLineBytes
            let detector: EventDetector?
            let importStore: ImportStore
            do {
                detector = try sigma.detector(products: ["linux", "windows"])
                // A follower never reaches the end where deferred indexes are
                // built: its store keeps them from the start, so queries can use them.
                importStore = try ImportStore(path: store, deferIndexes: !follow)
            } catch {
                importWarn("\(error)")
                throw ExitCode(1)
            }
            var stop: Int32 = -1
            if follow {
                stop = try Syscalls.signalDescriptor(for: [SIGINT, SIGTERM])
            }
            let importer = EventImporter(store: importStore, options: options, detector: detector, report: importWarn)
            var unreadable = false
            if follow {
                importer.follow(files[0], stopDescriptor: stop)
            } else {
                for file in files where !importer.importFile(file) { unreadable = true }
            }
            importer.finish()
            let counts = importer.counts
            importWarn(counts.summary)
            if summaryJSON {
                let text = counts.json + "\n"
                try? Array(text.utf8).withUnsafeBytes { try Syscalls.writeAll(1, $0, "standard output") }
            }
            if counts.failedToStore > 0 { throw ExitCode(74) }
            if counts.malformed > 0 || counts.failedFiles > 0 { throw ExitCode(unreadable && counts.malformed == 0 ? 66 : 65) }
        }
    }
}

private func importWarn(_ message: String) {
    // Best effort: stderr is where a failure would be reported.
    _ = try? Array("swiftmon: \(message)\n".utf8).withUnsafeBytes { try Syscalls.writeAll(2, $0, "standard error") }
}
