import Foundation
import SwiftmonTestSupport
import XCTest

/// A real rsyslogd (Debian package `rsyslog`) run by a test: TCP input on a
/// loopback port with octet-counted framing, a Unix datagram input standing in
/// for /dev/log, and a RELP input (Debian package `rsyslog-relp`), each
/// written to its own file as the bare message.
final class RsyslogCollector {
    let directory: String
    let port: UInt16
    let relpPort: UInt16
    var socketPath: String { directory + "/log.sock" }
    var tcpOutput: String { directory + "/tcp.log" }
    var relpOutput: String { directory + "/relp.log" }
    var localOutput: String { directory + "/local.log" }
    private var process: Process?
    private let executable: String

    init() throws {
        executable = try RsyslogCollector.installedRsyslogd()
        directory = try temporaryDirectory()
        port = try RsyslogCollector.freeLoopbackPort()
        relpPort = try RsyslogCollector.freeLoopbackPort()
        let config = """
            $MaxMessageSize 1m
            global(workDirectory="\(directory)")
            module(load="imuxsock" SysSock.Use="off")
            module(load="imtcp")
            module(load="imrelp")
            template(name="bareMessage" type="string" string="%msg%\\n")
            input(type="imuxsock" Socket="\(socketPath)" RateLimit.Interval="0" ruleset="local")
            input(type="imtcp" address="127.0.0.1" port="\(port)" ruleset="remote")
            input(type="imrelp" address="127.0.0.1" port="\(relpPort)" ruleset="relp" MaxDataSize="1m")
            ruleset(name="remote") { action(type="omfile" file="\(tcpOutput)" template="bareMessage") }
            ruleset(name="relp") { action(type="omfile" file="\(relpOutput)" template="bareMessage") }
            ruleset(name="local") { action(type="omfile" file="\(localOutput)" template="bareMessage") }

            """
        try config.write(toFile: directory + "/rsyslog.conf", atomically: true, encoding: .utf8)
    }

    deinit { stop() }

    /// Starts rsyslogd in the foreground and waits until it accepts connections.
    func start() throws {
        process = try RsyslogCollector.launch(executable, in: directory) { [port, relpPort, socketPath] in
            RsyslogCollector.canConnect(port: port) && RsyslogCollector.canConnect(port: relpPort)
                && FileManager.default.fileExists(atPath: socketPath)
        }
    }

    /// rsyslogd in the foreground with `directory`/rsyslog.conf, its stderr in
    /// `directory`/rsyslogd.stderr; returned once `ready` holds (15 s at most),
    /// else stopped and the error says what rsyslogd wrote.
    static func launch(_ executable: String, in directory: String, ready: () -> Bool) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = ["-n", "-f", directory + "/rsyslog.conf", "-i", directory + "/rsyslog.pid"]
        p.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        let log = directory + "/rsyslogd.stderr"
        FileManager.default.createFile(atPath: log, contents: nil)
        p.standardError = FileHandle(forWritingAtPath: log)
        try p.run()
        let deadline = Date(timeIntervalSinceNow: 15)
        while Date() < deadline {
            if ready() { return p }
            guard p.isRunning else { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        let errors = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        if p.isRunning { p.terminate() }
        p.waitUntilExit()
        throw CollectorError(message: "rsyslogd (\(directory)/rsyslog.conf) did not become ready: \(errors)")
    }

    /// SIGTERM, then waits for it to exit.
    func stop() {
        guard let p = process else { return }
        process = nil
        if p.isRunning { p.terminate() }
        p.waitUntilExit()
        try? FileManager.default.removeItem(atPath: directory + "/rsyslog.pid")
    }

    /// The messages written so far, one per line.
    func messages(_ file: String) -> [String] {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { return [] }
        return text.split(separator: "\n", omittingEmptySubsequences: true).map {
            String($0.drop { $0 == " " })  // rsyslog keeps the space after a BSD tag
        }
    }

    /// Waits until `file` has `count` messages and stays there a moment.
    @discardableResult
    func waitForMessages(_ file: String, count: Int, timeout: Double = 20) -> [String] {
        let deadline = Date(timeIntervalSinceNow: timeout)
        var current = messages(file)
        while Date() < deadline {
            if current.count >= count {
                Thread.sleep(forTimeInterval: 0.3)
                let again = messages(file)
                if again.count == current.count { return again }
            }
            Thread.sleep(forTimeInterval: 0.1)
            current = messages(file)
        }
        return current
    }

    struct CollectorError: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }

    /// rsyslogd's path, installing the Debian packages (rsyslog, rsyslog-relp)
    /// when they are missing. A test
    /// machine without it and without apt cannot run these tests: that is a skip,
    /// except under CI where it is a failure.
    static func installedRsyslogd() throws -> String {
        let path = "/usr/sbin/rsyslogd"
        func installed() -> Bool {
            // imrelp lives under the multiarch directory, /usr/lib/<triple>/rsyslog.
            let triples = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib")) ?? []
            let relp = triples.contains { FileManager.default.fileExists(atPath: "/usr/lib/\($0)/rsyslog/imrelp.so") }
            return FileManager.default.isExecutableFile(atPath: path) && relp
        }
        if installed() { return path }
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/apt-get"), getuid() == 0 {
            func aptGet(_ arguments: [String]) throws {
                let apt = Process()
                apt.executableURL = URL(fileURLWithPath: "/usr/bin/apt-get")
                apt.arguments = arguments
                var environment = ProcessInfo.processInfo.environment
                environment["DEBIAN_FRONTEND"] = "noninteractive"
                apt.environment = environment
                try apt.run()
                apt.waitUntilExit()
            }
            try aptGet(["install", "-y", "-q", "rsyslog", "rsyslog-relp"])
            if !installed() {
                // A fresh machine may have no package lists yet.
                try aptGet(["update", "-q"])
                try aptGet(["install", "-y", "-q", "rsyslog", "rsyslog-relp"])
            }
        }
        if installed() { return path }
        try TestRequirement.unavailable("rsyslogd is not installed and could not be installed (apt-get install rsyslog rsyslog-relp)")
    }

    static func freeLoopbackPort() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw CollectorError(message: "socket: \(errno)") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa -> Bool in
                bind(fd, sa, length) == 0 && getsockname(fd, sa, &length) == 0
            }
        }
        guard bound else { throw CollectorError(message: "bind: \(errno)") }
        return UInt16(bigEndian: address.sin_port)
    }

    static func canConnect(port: UInt16) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = port.bigEndian
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }
}
