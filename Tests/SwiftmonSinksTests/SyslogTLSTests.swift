import Foundation
import SwiftmonCore
@testable import SwiftmonSinks
import SwiftmonTestSupport
import XCTest

/// Certificates made for one test with the `openssl` command: two CAs, server
/// certificates with the names asked for (one expired), a client certificate.
final class TestCertificates: Sendable {
    let directory: String
    private let openssl = "/usr/bin/openssl"

    init() throws {
        try Self.requireOpenSSL(openssl)
        directory = try temporaryDirectory()
        try """
            [req]
            distinguished_name = dn
            prompt = no
            [dn]
            CN = unused
            [ca]
            default_ca = test_ca
            [test_ca]
            database = \(directory)/index.txt
            new_certs_dir = \(directory)
            serial = \(directory)/serial
            default_md = sha256
            policy = any
            unique_subject = no
            [any]
            commonName = supplied
            [ca_ext]
            basicConstraints = critical, CA:TRUE
            keyUsage = critical, keyCertSign, cRLSign
            subjectKeyIdentifier = hash

            """.write(toFile: directory + "/openssl.cnf", atomically: true, encoding: .utf8)
        try "".write(toFile: directory + "/index.txt", atomically: true, encoding: .utf8)
        try "1000\n".write(toFile: directory + "/serial", atomically: true, encoding: .utf8)
    }

    static func requireOpenSSL(_ path: String) throws {
        if FileManager.default.isExecutableFile(atPath: path) { return }
        try TestRequirement.unavailable("the openssl command is missing (apt-get install openssl)")
    }

    func path(_ name: String) -> String { directory + "/" + name }

    private func run(_ arguments: [String]) throws {
        let result = try Command.run(URL(fileURLWithPath: openssl), arguments, timeout: 60)
        guard result.status == 0 else {
            throw RsyslogCollector.CollectorError(message: "openssl \(arguments.joined(separator: " ")): \(result.stderrText)")
        }
    }

    private func newKey(_ name: String) -> [String] {
        ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", path(name + ".key")]
    }

    /// A self-signed CA: `name`.pem, `name`.key.
    func makeCA(_ name: String) throws {
        try run(["req", "-config", path("openssl.cnf"), "-x509", "-new"] + newKey(name)
                + ["-out", path(name + ".pem"), "-days", "2", "-subj", "/CN=swiftmon test \(name)", "-extensions", "ca_ext"])
    }

    /// A leaf certificate `name`.pem signed by `ca`, with these subjectAltNames
    /// (`DNS:localhost`, `IP:127.0.0.1`) for `serverAuth` or `clientAuth`;
    /// `expired`: valid only during January 2020.
    func makeLeaf(_ name: String, ca: String, altNames: [String], usage: String, expired: Bool = false) throws {
        try """
            basicConstraints = CA:FALSE
            keyUsage = critical, digitalSignature
            extendedKeyUsage = \(usage)
            subjectAltName = \(altNames.joined(separator: ", "))

            """.write(toFile: path(name + ".ext"), atomically: true, encoding: .utf8)
        try run(["req", "-config", path("openssl.cnf"), "-new"] + newKey(name)
                + ["-out", path(name + ".csr"), "-subj", "/CN=\(name)"])
        if expired {
            // `openssl ca` takes explicit dates (OpenSSL 3.0's x509 has no -not_after).
            try run(["ca", "-batch", "-config", path("openssl.cnf"), "-cert", path(ca + ".pem"),
                     "-keyfile", path(ca + ".key"), "-in", path(name + ".csr"), "-out", path(name + ".pem"),
                     "-startdate", "20200101000000Z", "-enddate", "20200201000000Z",
                     "-extfile", path(name + ".ext"), "-notext"])
        } else {
            try run(["x509", "-req", "-in", path(name + ".csr"), "-CA", path(ca + ".pem"), "-CAkey", path(ca + ".key"),
                     "-CAcreateserial", "-out", path(name + ".pem"), "-days", "2", "-extfile", path(name + ".ext")])
        }
    }
}

/// A real rsyslogd taking syslog over TCP, or over TLS (imtcp with the GnuTLS
/// stream driver, Debian package `rsyslog-gnutls`) asking for a client
/// certificate from `ca` (`x509/certvalid`); each message is written to one
/// file as `APP-NAME MSG`.
final class TaggedRsyslogCollector {
    let directory: String
    let port: UInt16
    var output: String { directory + "/tls.log" }
    private var process: Process?
    private let executable: String

    /// TLS with `certificates` (the collector's `server`.pem, clients' `ca`), else plain TCP.
    init(certificates: TestCertificates?, ca: String = "ca", server: String = "server") throws {
        executable = try RsyslogCollector.installedRsyslogd()
        directory = try temporaryDirectory()
        port = try RsyslogCollector.freeLoopbackPort()
        var config = """
            $MaxMessageSize 1m
            global(workDirectory="\(directory)")

            """
        if let certificates {
            try TaggedRsyslogCollector.requireGnuTLSDriver()
            config += """
                global(DefaultNetstreamDriver="gtls"
                       DefaultNetstreamDriverCAFile="\(certificates.path(ca + ".pem"))"
                       DefaultNetstreamDriverCertFile="\(certificates.path(server + ".pem"))"
                       DefaultNetstreamDriverKeyFile="\(certificates.path(server + ".key"))")
                module(load="imtcp" StreamDriver.Name="gtls" StreamDriver.Mode="1" StreamDriver.AuthMode="x509/certvalid")

                """
        } else {
            config += "module(load=\"imtcp\")\n"
        }
        config += """
            template(name="bareMessage" type="string" string="%app-name% %msg%\\n")
            input(type="imtcp" address="127.0.0.1" port="\(port)" ruleset="tls")
            ruleset(name="tls") { action(type="omfile" file="\(output)" template="bareMessage") }

            """
        try config.write(toFile: directory + "/rsyslog.conf", atomically: true, encoding: .utf8)
    }

    deinit { stop() }

    func start() throws {
        process = try RsyslogCollector.launch(executable, in: directory) { [port] in RsyslogCollector.canConnect(port: port) }
    }

    func stop() {
        guard let p = process else { return }
        process = nil
        if p.isRunning { p.terminate() }
        p.waitUntilExit()
    }

    func messages() -> [String] {
        guard let text = try? String(contentsOfFile: output, encoding: .utf8) else { return [] }
        return text.split(separator: "\n", omittingEmptySubsequences: true).map { String($0.drop { $0 == " " }) }
    }

    /// Waits until the file has `count` messages and stays there a moment.
    func waitForMessages(count: Int, timeout: Double = 20) -> [String] {
        let deadline = Date(timeIntervalSinceNow: timeout)
        var current = messages()
        while Date() < deadline {
            if current.count >= count {
                Thread.sleep(forTimeInterval: 0.3)
                let again = messages()
                if again.count == current.count { return again }
            }
            Thread.sleep(forTimeInterval: 0.1)
            current = messages()
        }
        return current
    }

    /// rsyslog's GnuTLS stream driver (lmnsd_gtls.so), installed when missing and possible.
    static func requireGnuTLSDriver() throws {
        func installed() -> Bool {
            let triples = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib")) ?? []
            return triples.contains { FileManager.default.fileExists(atPath: "/usr/lib/\($0)/rsyslog/lmnsd_gtls.so") }
        }
        if installed() { return }
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/apt-get"), getuid() == 0 {
            _ = try? Command.run(URL(fileURLWithPath: "/usr/bin/apt-get"), ["install", "-y", "-q", "rsyslog-gnutls"],
                                 environment: ["DEBIAN_FRONTEND": "noninteractive"])
        }
        if installed() { return }
        try TestRequirement.unavailable("rsyslog's TLS driver is missing (apt-get install rsyslog-gnutls)")
    }
}

/// Syslog over TLS (RFC 5425) to a real rsyslog: mutual TLS delivers every
/// event exactly once; a collector whose certificate must be refused (signed
/// by another CA, made out to another name, expired) gets nothing, the error
/// names the destination and the verifier's reason, and every event is
/// counted lost — written + lost = accepted.
final class SyslogTLSTests: XCTestCase {
    static let sharedCertificates: Result<TestCertificates, Error> = Result {
        let c = try TestCertificates()
        try c.makeCA("ca")
        try c.makeCA("other-ca")
        try c.makeLeaf("server", ca: "ca", altNames: ["DNS:localhost", "IP:127.0.0.1"], usage: "serverAuth")
        try c.makeLeaf("server-other-name", ca: "ca", altNames: ["DNS:collector.example.org"], usage: "serverAuth")
        try c.makeLeaf("server-expired", ca: "ca", altNames: ["DNS:localhost", "IP:127.0.0.1"], usage: "serverAuth",
                       expired: true)
        try c.makeLeaf("client", ca: "ca", altNames: ["DNS:sensor.example.org"], usage: "clientAuth")
        return c
    }

    func certificates() throws -> TestCertificates { try Self.sharedCertificates.get() }

    func options(_ tls: SyslogTLSContext, errors: ErrorLog? = nil) -> SyslogSink.Options {
        var options = SyslogSink.Options()
        options.tls = tls
        options.maxBufferedMessages = 20
        options.reconnectMinimumDelay = 0.05
        options.reconnectMaximumDelay = 0.4
        options.connectTimeout = 5
        if let errors { options.reportError = { errors.append($0) } }
        return options
    }

    final class ErrorLog: @unchecked Sendable {
        private let lock = NSLock()
        private var lines: [String] = []
        func append(_ line: String) { lock.lock(); lines.append(line); lock.unlock() }
        var all: [String] { lock.lock(); defer { lock.unlock() }; return lines }
    }

    func testDestinationParsing() throws {
        XCTAssertEqual(try SyslogDestination(parsing: "tls://collector:1234"), .tls(host: "collector", port: 1234))
        XCTAssertEqual(try SyslogDestination(parsing: "tls://collector"), .tls(host: "collector", port: 6514))
        XCTAssertEqual(try SyslogDestination(parsing: "tls://[::1]:7514"), .tls(host: "::1", port: 7514))
        XCTAssertEqual(SyslogDestination.tls(host: "::1", port: 7514).description, "tls://[::1]:7514")
        XCTAssertTrue(SyslogDestination.tls(host: "a", port: 1).usesOctetCounting)
    }

    func testUnreadableFilesAreRefusedAtSetUp() throws {
        let c = try certificates()
        XCTAssertThrowsError(try SyslogTLSContext(caFile: c.path("missing.pem"))) { error in
            XCTAssertTrue("\(error)".contains("missing.pem: No such file or directory"), "\(error)")
        }
        XCTAssertThrowsError(try SyslogTLSContext(caFile: c.path("ca.pem"), certificateFile: c.path("client.pem"),
                                                  keyFile: c.path("server.key"))) { error in
            XCTAssertTrue("\(error)".contains("server.key") && "\(error)".contains("mismatch"), "\(error)")
        }
        XCTAssertThrowsError(try SyslogTLSContext(caFile: c.path("ca.pem"), certificateFile: c.path("client.pem")))
    }

    func testMutualTLSDeliversEveryEventToRealRsyslog() throws {
        let c = try certificates()
        let collector = try TaggedRsyslogCollector(certificates: c, ca: "ca", server: "server")
        try collector.start()
        defer { collector.stop() }
        let tls = try SyslogTLSContext(caFile: c.path("ca.pem"), certificateFile: c.path("client.pem"),
                                       keyFile: c.path("client.key"))
        var options = self.options(tls)
        options.maxBufferedMessages = 1000
        // By name: the certificate's DNS:localhost is checked.
        let sink = SyslogSink(destination: .tls(host: "localhost", port: collector.port), options: options,
                              recordIDs: EventRecordCounter(startingAt: 1))
        defer { sink.close(timeout: 0) }
        let total = 300
        var expected: [Int: String] = [:]
        for n in 0..<total {
            var extra = ""
            if n == 10 { extra = " " + String(repeating: "0123456789abcdef", count: 1500) }  // 24 KiB: several TLS records
            if n % 50 == 7 { extra = " line one\nline two\r\n\tline three" }
            let event = SyslogSinkTests.numbered(n, extra: extra)
            expected[n] = event["CommandLine"]
            try sink.emit(event)
        }
        XCTAssertTrue(sink.drain(timeout: 30), "not drained: \(sink.status)")
        let counts = sink.deliveryCounts
        XCTAssertEqual(counts.accepted, UInt64(total))
        XCTAssertEqual(counts.delivered, UInt64(total), "\(counts); \(sink.status)")
        let messages = collector.waitForMessages(count: total)
        XCTAssertEqual(messages.count, total)
        var seen = Set<Int>()
        for message in messages {
            let (n, commandLine) = try XCTUnwrap(SyslogSinkTests.sequenceNumber(message), "unparseable: \(message.prefix(300))")
            XCTAssertEqual(commandLine, expected[n], "event \(n) arrived changed")
            XCTAssertTrue(message.hasPrefix("sysmon <Event>"), "tagged sysmon: \(message.prefix(80))")
            seen.insert(n)
        }
        XCTAssertEqual(seen, Set(0..<total), "exactly the events sent, each once")
        XCTAssertNil(sink.status.lastError)
    }

    /// Each refused collector: nothing delivered, the verifier's reason in
    /// the error with the destination, every event accounted for.
    func assertRefused(server: String, caFile: String, host: String, reason: String, clientCertificate: Bool = true,
                       file: StaticString = #filePath, line: UInt = #line) throws {
        let c = try certificates()
        let collector = try TaggedRsyslogCollector(certificates: c, ca: "ca", server: server)
        try collector.start()
        defer { collector.stop() }
        let tls = clientCertificate
            ? try SyslogTLSContext(caFile: c.path(caFile), certificateFile: c.path("client.pem"), keyFile: c.path("client.key"))
            : try SyslogTLSContext(caFile: c.path(caFile))
        let errors = ErrorLog()
        let destination = SyslogDestination.tls(host: host, port: collector.port)
        let sink = SyslogSink(destination: destination, options: options(tls, errors: errors),
                              recordIDs: EventRecordCounter(startingAt: 1))
        let total = 30
        for n in 0..<total { try sink.emit(SyslogSinkTests.numbered(n)) }
        try sink.flush()
        let deadline = Date(timeIntervalSinceNow: 15)
        while sink.status.lastError == nil, Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        Thread.sleep(forTimeInterval: 0.5)  // several attempts, all refused
        let status = sink.status
        XCTAssertFalse(status.connected, file: file, line: line)
        let error = try XCTUnwrap(status.lastError, file: file, line: line)
        XCTAssertTrue(error.contains(reason), error, file: file, line: line)
        XCTAssertTrue(error.contains(destination.description), error, file: file, line: line)
        XCTAssertEqual(errors.all.count, 1, "reported once, not at every retry: \(errors.all)", file: file, line: line)
        XCTAssertEqual(errors.all.first, "syslog " + error, file: file, line: line)
        sink.close(timeout: 0)
        let counts = sink.deliveryCounts
        XCTAssertEqual(counts.accepted, UInt64(total), file: file, line: line)
        XCTAssertEqual(counts.delivered, 0, "\(counts)", file: file, line: line)
        XCTAssertEqual(counts.delivered + counts.droppedTotal, counts.accepted, "\(counts)", file: file, line: line)
        XCTAssertEqual(counts.dropped["bufferFull"], 10, "\(counts)", file: file, line: line)
        XCTAssertEqual(counts.dropped["shutdown"], 20, "\(counts)", file: file, line: line)
        Thread.sleep(forTimeInterval: 0.3)
        XCTAssertEqual(collector.messages(), [], "the refused collector received nothing", file: file, line: line)
    }

    func testCollectorSignedByAnotherCAIsRefused() throws {
        try assertRefused(server: "server", caFile: "other-ca.pem", host: "127.0.0.1",
                          reason: "certificate verify failed: unable to get local issuer certificate")
    }

    func testCollectorWithAnotherNameIsRefused() throws {
        // The certificate is for collector.example.org; we asked for 127.0.0.1.
        try assertRefused(server: "server-other-name", caFile: "ca.pem", host: "127.0.0.1",
                          reason: "certificate verify failed: IP address mismatch")
        // And by name: localhost is not collector.example.org either.
        try assertRefused(server: "server-other-name", caFile: "ca.pem", host: "localhost",
                          reason: "certificate verify failed: hostname mismatch")
    }

    func testCollectorWithExpiredCertificateIsRefused() throws {
        try assertRefused(server: "server-expired", caFile: "ca.pem", host: "127.0.0.1",
                          reason: "certificate verify failed: certificate has expired")
    }

    /// A collector that wants a client certificate and gets none: under TLS
    /// 1.3 the client's handshake is over before the collector refuses, so the
    /// sink waits for that verdict instead of counting events delivered into a
    /// session being torn down.
    func testCollectorRefusingAClientWithoutCertificateCountsNothingDelivered() throws {
        try assertRefused(server: "server", caFile: "ca.pem", host: "127.0.0.1",
                          reason: "TLS handshake: the collector ended the session at once", clientCertificate: false)
    }
}
