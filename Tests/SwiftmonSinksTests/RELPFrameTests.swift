@testable import SwiftmonSinks
import XCTest

final class RELPFrameTests: XCTestCase {
    func testEncode() {
        XCTAssertEqual(String(decoding: RELPFrame.encode(txnr: 7, command: "syslog", data: Array("<14>1 x".utf8)), as: UTF8.self),
                       "7 syslog 7 <14>1 x\n")
        XCTAssertEqual(String(decoding: RELPFrame.encode(txnr: 9, command: "close", data: []), as: UTF8.self), "9 close 0\n")
    }

    func testDecodeWholeAndPartialFrames() throws {
        var buffer = Array("2 rsp 6 200 OK\n3 rsp 6 500 no\n0 serverclose 0\n4 rsp 6 20".utf8)
        let responses = try RELPFrame.decode(&buffer)
        XCTAssertEqual(responses.map(\.txnr), [2, 3, 0])
        XCTAssertEqual(responses.map(\.status), [200, 500, 0])
        XCTAssertEqual(responses[2].command, "serverclose")
        XCTAssertEqual(String(decoding: buffer, as: UTF8.self), "4 rsp 6 20", "a partial frame waits for more bytes")
        buffer += Array("0 OK\n".utf8)
        XCTAssertEqual(try RELPFrame.decode(&buffer).map(\.txnr), [4])
        XCTAssertTrue(buffer.isEmpty)
        // Data that itself contains a line feed is delimited by its length, not the LF.
        var multiline = Array("1 rsp 21 200 OK\nrelp_version=0\n".utf8)
        let open = try RELPFrame.decode(&multiline)
        XCTAssertEqual(open.first?.text, "200 OK\nrelp_version=0")
    }

    func testDecodeRejectsGarbage() {
        var garbage = Array("HTTP/1.1 400 Bad Request\r\n".utf8)
        XCTAssertThrowsError(try RELPFrame.decode(&garbage))
        var huge = Array(String(repeating: "9", count: 100).utf8)
        XCTAssertThrowsError(try RELPFrame.decode(&huge))
    }
}
