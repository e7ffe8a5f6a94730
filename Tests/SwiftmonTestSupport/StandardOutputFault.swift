import Foundation
import XCTest

/// A broken standard output for a command that prints events (`etl`, `evtx`):
/// a full disk (`/dev/full`) or a pipe whose reader has gone before the first
/// write. The command must count every event it accepted as written or lost,
/// and say so on standard error in its account line
/// (`json standard output: A accepted, W written, L lost (CAUSE L)`).
public enum StandardOutputFault: String, Sendable {
    case fullDisk = "ENOSPC"
    case closedPipe = "EPIPE"

    /// The output's account as the command printed it.
    public struct Account: Equatable, Sendable {
        public let accepted, written, lost: Int
        public let cause: String
    }

    /// Runs the built swiftmon with `arguments` and standard output broken by
    /// this fault; returns the exit status and the account line's figures.
    public func runSwiftmon(_ arguments: [String], file: StaticString = #filePath,
                            line: UInt = #line) throws -> (status: Int32, account: Account?, stderr: String) {
        let binary = try BuiltBinary.requireSwiftmon(file: file, line: line)
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        let errors = Pipe()
        process.standardError = errors
        var pipe: Pipe?
        switch self {
        case .fullDisk:
            process.standardOutput = try XCTUnwrap(FileHandle(forWritingAtPath: "/dev/full"), file: file, line: line)
        case .closedPipe:
            let p = Pipe()
            try p.fileHandleForReading.close()  // the reader is gone before swiftmon writes
            process.standardOutput = p
            pipe = p
        }
        try process.run()
        let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        _ = pipe
        return (process.terminationStatus, Self.account(in: text), text)
    }

    /// Runs `arguments` under each fault and asserts that the command accepted
    /// `accepted` events, wrote none and counted every one lost under the
    /// fault's errno. A full disk is an I/O error (exit 74, EX_IOERR); a reader
    /// that went away is not, so the exit status is then `closedPipeStatus`
    /// (what the command returns without the fault).
    public static func assertEveryEventCountedLost(_ arguments: [String], accepted: Int, closedPipeStatus: Int32 = 0,
                                                   file: StaticString = #filePath, line: UInt = #line) throws {
        for fault in [StandardOutputFault.fullDisk, .closedPipe] {
            let r = try fault.runSwiftmon(arguments, file: file, line: line)
            XCTAssertEqual(r.status, fault == .fullDisk ? 74 : closedPipeStatus, "\(fault): \(r.stderr)", file: file, line: line)
            let account = try XCTUnwrap(r.account, "\(fault): no account line in \(r.stderr)", file: file, line: line)
            XCTAssertEqual(account.accepted, accepted, "\(fault)", file: file, line: line)
            XCTAssertEqual(account.written + account.lost, account.accepted, "\(fault)", file: file, line: line)
            XCTAssertEqual(account.written, 0, "\(fault): nothing can be written", file: file, line: line)
            XCTAssertEqual(account.cause, fault.rawValue, file: file, line: line)
        }
    }

    /// `A accepted, W written, L lost (CAUSE n)` from the output's account line.
    static func account(in text: String) -> Account? {
        for line in text.split(separator: "\n") where line.contains("standard output:") {
            let numbers = line.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
            guard numbers.count >= 3, let open = line.lastIndex(of: "(") else { continue }
            let cause = line[line.index(after: open)...].prefix { $0.isLetter }
            return Account(accepted: numbers[0], written: numbers[1], lost: numbers[2], cause: String(cause))
        }
        return nil
    }
}
