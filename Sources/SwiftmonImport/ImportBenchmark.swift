#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SwiftmonCore
import SwiftmonStore
import SwiftmonSystem

/// Figures for `swiftmon bench import`: a collector's file of Sysmon for
/// Linux ProcessCreate/ProcessTerminate lines (rsyslog's traditional format,
/// ~1.1 KiB each, as a busy host's stream), and the same events as swiftmon's
/// JSON lines, parsed alone and imported into a fresh store (the store's
/// insert timed apart from the importer's own work).
public enum ImportBenchmark {
    /// Writes `events` syslog lines of `hosts` hosts to `path` (0600).
    public static func writeCollectorFile(path: String, events: Int, hosts: Int = 4) throws {
        let fd = try Syscalls.open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC)
        defer { Syscalls.close(fd) }
        var out: [UInt8] = []
        out.reserveCapacity(1 << 22)
        for n in 0..<events {
            let host = "host-\(n % hosts)"
            let pid = 1000 + n
            let ms = n % 1000
            let seconds = n / 1000
            let time = "2024-01-31 \(two(seconds / 3600 % 24)):\(two(seconds / 60 % 60)):\(two(seconds % 60)).\(three(ms))"
            let guid = "{ef0c1d6c-\(hex(n >> 16, 4))-\(hex(n & 0xFFFF, 4))-1d5c-5b1b3b560000}"
            var line = "Jan 31 \(two(seconds / 3600 % 24)):\(two(seconds / 60 % 60)):\(two(seconds % 60)) \(host) sysmon: "
            line += "<Event><System><Provider Name=\"Linux-Sysmon\" Guid=\"{ff032593-a8d3-4f13-b0d6-01fc615a0f97}\"/>"
            let create = n % 2 == 0
            line += "<EventID>\(create ? 1 : 5)</EventID><Version>5</Version><Level>4</Level><Task>\(create ? 1 : 5)</Task><Opcode>0</Opcode>"
            line += "<Keywords>0x8000000000000000</Keywords><TimeCreated SystemTime=\"2024-01-31T00:00:00.000000000Z\"/>"
            line += "<EventRecordID>\(n)</EventRecordID><Correlation/><Execution ProcessID=\"812\" ThreadID=\"812\"/>"
            line += "<Channel>Linux-Sysmon/Operational</Channel><Computer>\(host)</Computer><Security UserId=\"0\"/></System><EventData>"
            func data(_ name: String, _ value: String) { line += "<Data Name=\"\(name)\">\(value)</Data>" }
            data("RuleName", "-"); data("UtcTime", time); data("ProcessGuid", guid); data("ProcessId", String(pid))
            if create {
                data("Image", "/usr/bin/curl"); data("FileVersion", "-"); data("Description", "-"); data("Product", "-")
                data("Company", "-"); data("OriginalFileName", "-")
                data("CommandLine", "curl -s -o /tmp/out.\(n) https://example.com/api?id=\(n)&amp;q=x")
                data("CurrentDirectory", "/home/user"); data("User", "user")
                data("LogonGuid", "{ef0c1d6c-0000-0000-e803-000000000000}"); data("LogonId", "1000")
                data("TerminalSessionId", "3"); data("IntegrityLevel", "no level"); data("Hashes", "-")
                data("ParentProcessGuid", "{ef0c1d6c-96d5-6169-c5e8-06f3a6550000}"); data("ParentProcessId", "2277")
                data("ParentImage", "/usr/bin/bash"); data("ParentCommandLine", "-bash"); data("ParentUser", "user")
            } else {
                data("Image", "/usr/bin/curl"); data("User", "user")
            }
            line += "</EventData></Event>\n"
            out += Array(line.utf8)
            if out.count >= 1 << 22 {
                try out.withUnsafeBytes { try Syscalls.writeAll(fd, $0, path) }
                out.removeAll(keepingCapacity: true)
            }
        }
        try out.withUnsafeBytes { try Syscalls.writeAll(fd, $0, path) }
    }

    static func two(_ v: Int) -> String { v < 10 ? "0\(v)" : String(v) }
    static func three(_ v: Int) -> String { v < 10 ? "00\(v)" : v < 100 ? "0\(v)" : String(v) }
    static func hex(_ v: Int, _ width: Int) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: max(0, width - s.count)) + s
    }

    public struct Figures: Sendable {
        public var events: Int
        public var seconds: Double
        public var cpuSeconds: Double
        /// Of ``cpuSeconds``: the store's insert and close (import only).
        public var storeCPUSeconds: Double = 0
        public var eventsPerSecond: Double { Double(events) / seconds }
        public var eventsPerCPUSecond: Double { Double(events) / max(cpuSeconds, 1e-9) }
        /// CPU µs per event of the whole run, of the store, and of the rest (the importer's own).
        public var cpuMicrosecondsPerEvent: Double { cpuSeconds * 1e6 / Double(max(1, events)) }
        public var storeMicrosecondsPerEvent: Double { storeCPUSeconds * 1e6 / Double(max(1, events)) }
        public var ownMicrosecondsPerEvent: Double { (cpuSeconds - storeCPUSeconds) * 1e6 / Double(max(1, events)) }
    }

    static func processCPUNanoseconds() -> Int64 { Syscalls.clockNanoseconds(CLOCK_PROCESS_CPUTIME_ID) }

    /// Calls `body` with every line of `path`.
    static func forEachLine(path: String, _ body: (LineSplitter.Line) -> Void) throws {
        let fd = try Syscalls.open(path, O_RDONLY | O_CLOEXEC)
        defer { Syscalls.close(fd) }
        var splitter = LineSplitter(maxLineBytes: SysmonLineParser.defaultMaxLineBytes)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 18, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let n = try Syscalls.read(fd, into: buffer, path)
            if n == 0 { break }
            splitter.feed(UnsafeRawBufferPointer(rebasing: buffer[0..<n]), body)
        }
        splitter.finish(body)
    }

    /// Writes the events of the collector file `from` to `to` (0600) as
    /// `render` writes each (swiftmon's JSON lines: the CLI passes its sink's
    /// renderer, which this target does not see).
    public static func convert(from: String, to path: String, render: (Event, inout [UInt8]) -> Void) throws {
        let fd = try Syscalls.open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC)
        defer { Syscalls.close(fd) }
        var parser = SysmonLineParser()
        var out: [UInt8] = []
        out.reserveCapacity(1 << 22)
        var failure: Error?
        try forEachLine(path: from) { line in
            guard failure == nil, case .text(let bytes, _) = line, case .event(let imported) = parser.parse(bytes) else { return }
            render(imported.event, &out)
            if out.count >= 1 << 22 {
                do { try out.withUnsafeBytes { try Syscalls.writeAll(fd, $0, path) } } catch { failure = error }
                out.removeAll(keepingCapacity: true)
            }
        }
        if let failure { throw failure }
        try out.withUnsafeBytes { try Syscalls.writeAll(fd, $0, path) }
    }

    /// Parses every line of `path` without storing: the parser's share.
    public static func parseOnly(path: String) throws -> Figures {
        let start = Syscalls.clockNanoseconds(CLOCK_MONOTONIC)
        let cpu = processCPUNanoseconds()
        var parser = SysmonLineParser()
        var events = 0
        try forEachLine(path: path) { line in
            if case .text(let bytes, _) = line, case .event = parser.parse(bytes) { events += 1 }
        }
        return Figures(events: events, seconds: Double(Syscalls.clockNanoseconds(CLOCK_MONOTONIC) - start) / 1e9,
                       cpuSeconds: Double(processCPUNanoseconds() - cpu) / 1e9)
    }

    /// Imports `path` into a fresh store at `store`; `storeThread`: see
    /// ``EventImporter/Options/storeThread`` (false: the in-line import, to compare).
    public static func importFile(path: String, store: String, storeThread: Bool = true) throws -> (Figures, EventImporter.Counts) {
        for suffix in ["", "-wal", "-shm"] { _ = unlink(store + suffix) }
        let start = Syscalls.clockNanoseconds(CLOCK_MONOTONIC)
        let cpu = processCPUNanoseconds()
        var options = EventImporter.Options(defaultHost: "bench")
        options.storeThread = storeThread
        let importer = EventImporter(store: try ImportStore(path: store), options: options) { _ in }
        importer.importFile(path)
        importer.finish()
        let figures = Figures(events: importer.counts.events,
                              seconds: Double(Syscalls.clockNanoseconds(CLOCK_MONOTONIC) - start) / 1e9,
                              cpuSeconds: Double(processCPUNanoseconds() - cpu) / 1e9,
                              storeCPUSeconds: Double(importer.storeCPUNanoseconds) / 1e9)
        return (figures, importer.counts)
    }
}
