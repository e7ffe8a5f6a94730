import Foundation
import XCTest
import SwiftmonCore
@testable import SwiftmonSinks

final class JSONLinesSinkTests: XCTestCase {
    func sample() -> Event {
        var e = Event(.processCreate, time: EventTime(nanosecondsSinceEpoch: 1_700_000_000_000_000_000))
        e["ProcessId"] = "42"
        e["CommandLine"] = "sh -c \"echo <a> & b\"\n\ttab\u{1}\u{7f} ü"
        e.set("Image", bytes: Array("/tmp/bad".utf8) + [0xFF])
        return e
    }

    func testOneObjectPerLineWithFieldsInSchemaOrder() throws {
        let line = JSONLinesSink.render(sample())
        XCTAssertEqual(line.last, 0x0A)
        XCTAssertEqual(line.filter { $0 == 0x0A }.count, 1)
        let text = String(decoding: line, as: UTF8.self)
        XCTAssertTrue(text.hasPrefix(#"{"EventID":1,"EventName":"ProcessCreate","RuleName":"-","UtcTime":"2023-11-14 22:13:20.000","ProcessGuid":"-","ProcessId":"42","Image":"/tmp/bad\udcff""#), text)
        XCTAssertTrue(text.hasSuffix(#""Architecture":"-","ImageNtPath":"-","ContainerId":"-","ContainerRuntime":"-","PodUid":"-","CgroupPath":"-","PidNamespace":"-","MntNamespace":"-","NetNamespace":"-","ContainerProcessId":"-"}"# + "\n"), text)
    }

    func testHostileValuesRoundTripThroughAJSONParser() throws {
        var e = sample()
        e.set("Image", bytes: Array("/ok".utf8))
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(JSONLinesSink.render(e))) as? [String: Any])
        XCTAssertEqual(object["CommandLine"] as? String, "sh -c \"echo <a> & b\"\n\ttab\u{1}\u{7f} ü")
        XCTAssertEqual(object["EventID"] as? Int, 1)
        XCTAssertEqual(object.count, 2 + e.kind.fields.count)
    }

    func testTextLineIsOneLineAndUnambiguous() {
        let text = String(decoding: TextSink.render(sample()), as: UTF8.self)
        XCTAssertEqual(text, #"2023-11-14 22:13:20.000 ProcessCreate ProcessId=42 Image="/tmp/bad\xff" CommandLine="sh -c \"echo <a> & b\"\n\ttab\x01\x7f ü""# + "\n")
    }

    func testOutputFileIsCreatedPrivateAndAppended() throws {
        let path = NSTemporaryDirectory() + "swiftmon-out-\(UUID().uuidString)"
        defer { unlink(path) }
        do {
            let out = try FileOutput(path: path)
            try out.appendEvent { $0 += Array("one\n".utf8) }
            try out.flush()
        }
        do {
            let out = try FileOutput(path: path)
            try out.appendEvent { $0 += Array("two\n".utf8) }
            try out.flush()
        }
        var st = stat()
        XCTAssertEqual(stat(path, &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o600)
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "one\ntwo\n")
    }

    func testAnExistingWorldReadableFileIsTightened() throws {
        let path = NSTemporaryDirectory() + "swiftmon-out-\(UUID().uuidString)"
        defer { unlink(path) }
        FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o644])
        _ = try FileOutput(path: path)
        var st = stat()
        XCTAssertEqual(stat(path, &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o600)
    }

    func testDevicesKeepTheirMode() throws {
        var before = stat()
        XCTAssertEqual(stat("/dev/null", &before), 0)
        let out = try FileOutput(path: "/dev/null")
        try out.appendEvent { $0 += Array("discarded\n".utf8) }
        try out.flush()
        var after = stat()
        XCTAssertEqual(stat("/dev/null", &after), 0)
        XCTAssertEqual(after.st_mode, before.st_mode, "/dev/null must stay writable for everyone")
    }

    func testUnwritableOutputIsAClearError() {
        XCTAssertThrowsError(try FileOutput(path: "/nonexistent-dir/x.jsonl")) { error in
            XCTAssertTrue("\(error)".contains("/nonexistent-dir/x.jsonl"))
        }
    }
}
