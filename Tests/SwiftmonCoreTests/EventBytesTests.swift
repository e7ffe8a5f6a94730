import XCTest
@testable import SwiftmonCore

/// Values held as bytes in the event's arena (issue 10): every read API gives
/// the same text as for a value set as a String.
final class EventBytesTests: XCTestCase {
    let time = EventTime(nanosecondsSinceEpoch: 1_706_745_599_123_456_789)
    let commandLine = EventKind.processCreate.index(of: "CommandLine")!
    let image = EventKind.processCreate.index(of: "Image")!
    let guidField = EventKind.processCreate.index(of: "ProcessGuid")!

    func testABytesValueReadsAsTheSameTextEveryWay() {
        var e = Event(.processCreate, time: time)
        let text = "/usr/bin/python3 -c 'print(\"héllo\")' --a-long-tail-of-arguments"
        e.setUTF8(commandLine, Array(text.utf8))
        XCTAssertTrue(e.isHeldAsBytes(commandLine))
        XCTAssertEqual(e[commandLine], text)
        XCTAssertEqual(e["CommandLine"], text)
        XCTAssertEqual(e.values[commandLine], text)
        XCTAssertEqual(e.utf8Count(commandLine), text.utf8.count)
        XCTAssertEqual(e.withUTF8(commandLine) { Array($0) }, Array(text.utf8))
        XCTAssertFalse(e.isAbsent(commandLine))
        XCTAssertTrue(e.isAbsent(image))
        XCTAssertEqual(Dictionary(uniqueKeysWithValues: e.fields.map { ($0, $1) })["CommandLine"], text)
        XCTAssertTrue(e.rawBytes.isEmpty)

        // A String written over it replaces it; bytes written again replace that.
        e[commandLine] = "ls"
        XCTAssertFalse(e.isHeldAsBytes(commandLine))
        XCTAssertEqual(e[commandLine], "ls")
        XCTAssertEqual(e.withUTF8(commandLine) { Array($0) }, Array("ls".utf8))
        e.setUTF8(commandLine, Array("second bytes value, longer than fifteen".utf8))
        XCTAssertEqual(e[commandLine], "second bytes value, longer than fifteen")
        XCTAssertEqual(e.values.filter { $0 != Event.absent }.count, 2, "UtcTime and CommandLine")
    }

    func testBytesThatAreNotUTF8KeepTheirExactBytesAsBefore() {
        var e = Event(.processCreate, time: time)
        let bytes: [UInt8] = Array("/tmp/evil".utf8) + [0xFF, 0xC3] + Array("\\x".utf8)
        e.setUTF8(image, bytes)
        XCTAssertFalse(e.isHeldAsBytes(image))
        XCTAssertEqual(e[image], FieldText(bytes).string)
        XCTAssertEqual(e.rawBytes[image], bytes)
        // Valid bytes written over them drop the exact bytes.
        e.setUTF8(image, Array("/usr/bin/true".utf8))
        XCTAssertNil(e.rawBytes[image])
        XCTAssertEqual(e[image], "/usr/bin/true")
    }

    func testTheUTF8CheckAgreesWithTheStandardLibrary() {
        // Every sequence of up to 3 bytes from an alphabet of the bytes where
        // UTF-8's rules change, alone and after 9 ASCII bytes (the 8-byte
        // fast path, then its byte-wise tail).
        let alphabet: [UInt8] = [0x41, 0x7A, 0x2F, 0x00, 0x7F, 0x80, 0xBF, 0xC2, 0xC3, 0xE0, 0xE2, 0xED, 0xEF,
                                 0xF0, 0xF4, 0xF5, 0xFF, 0x9F, 0xA0, 0x90, 0x8F]
        var sequences: [[UInt8]] = [[]]
        for a in alphabet {
            sequences.append([a])
            for b in alphabet {
                sequences.append([a, b])
                for c in alphabet { sequences.append([a, b, c]) }
            }
        }
        for tail in sequences {
            for bytes in [tail, Array("/usr/bin/".utf8) + tail, tail + Array("/usr/bin/".utf8)] {
                let expected = String(validating: bytes, as: UTF8.self) != nil
                XCTAssertEqual(bytes.withUnsafeBufferPointer { FieldText.isValidUTF8($0) }, expected, "\(bytes)")
            }
        }
    }

    func testAGuidWrittenAsBytesIsItsText() {
        let guid = ProcessGuid(machine: 0xc0ff_ee42, startTicks: 0x0123_4567_89ab_cdef, pid: 4_000_000)
        var e = Event(.processCreate, time: time)
        e.setGuid(guidField, guid)
        XCTAssertEqual(e[guidField], guid.description)
        XCTAssertEqual(e[guidField], "{c0ffee42-0123-4567-89ab-cdef003d0900}")
    }

    func testUtcTimeWrittenAsBytesIsTheSysmonText() {
        var cache = UtcTimeTextCache()
        for ns: Int64 in [0, 1_706_745_599_123_456_789, 1_706_745_599_123_999_999, 1_706_745_599_124_000_000] {
            let t = EventTime(nanosecondsSinceEpoch: ns)
            var e = Event(.processCreate, time: t, utcTime: Event.absent)
            cache.write(t, into: &e)
            XCTAssertEqual(e["UtcTime"], t.sysmonText)
        }
        var bytes: [UInt8] = []
        time.appendISO8601Nanoseconds(to: &bytes)
        XCTAssertEqual(String(decoding: bytes, as: UTF8.self), time.iso8601Nanoseconds)
    }

    func testCopyKeepsBytesTextAndExactBytes() {
        var create = Event(.processCreate, time: time)
        create.setUTF8(image, Array("/usr/lib/a-long-image-path/bin".utf8))
        create["User"] = "root"
        let odd: [UInt8] = [0x2F, 0x62, 0xFE]
        create.set("CurrentDirectory", bytes: odd)
        var load = Event(.imageLoad, time: time)
        load.copy("ImageLoaded", from: create, "Image")
        load.copy("User", from: create, "User")
        load.copy("Image", from: create, "CurrentDirectory")
        XCTAssertEqual(load["ImageLoaded"], "/usr/lib/a-long-image-path/bin")
        XCTAssertTrue(load.isHeldAsBytes(EventKind.imageLoad.index(of: "ImageLoaded")!))
        XCTAssertEqual(load["User"], "root")
        XCTAssertEqual(load.rawBytes[EventKind.imageLoad.index(of: "Image")!], odd)
    }

    func testTheArenaIsRecycledWithTheEvent() {
        let recycler = EventValueRecycler(limit: 8)
        var stash = EventValueStash(recycler: recycler)
        var e = Event(.processCreate, time: time, utcTime: "t", stash: &stash)
        e.setUTF8(commandLine, Array("/usr/bin/true --marker storm-100000".utf8))
        let arena = e.arena.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress) }
        var events = [e]
        e = Event(.error, time: time)
        recycler.recycle(&events)
        var next = Event(.processTerminate, time: time, utcTime: "u", stash: &stash)
        XCTAssertTrue(next.arena.isEmpty, "no byte value yet")
        next.setUTF8(EventKind.processTerminate.index(of: "Image")!, Array("/usr/bin/a-long-image".utf8))
        XCTAssertEqual(next.arena.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress) }, arena,
                       "the recycled arena holds the new event's bytes")
        XCTAssertEqual(next["Image"], "/usr/bin/a-long-image")
        XCTAssertEqual(next["CommandLine"], nil)
        XCTAssertEqual(next["UtcTime"], "u")
    }

    func testAnEventSomeoneKeepsKeepsItsBytes() {
        let recycler = EventValueRecycler(limit: 8)
        var stash = EventValueStash(recycler: recycler)
        var e = Event(.processCreate, time: time, utcTime: "t", stash: &stash)
        e.setUTF8(commandLine, Array("/bin/kept --for-later and more".utf8))
        let kept = e
        var events = [e]
        recycler.recycle(&events)
        var reused = Event(.processCreate, time: time, utcTime: "t", stash: &stash)
        reused.setUTF8(commandLine, Array("/bin/other --overwrites-nothing".utf8))
        XCTAssertEqual(kept["CommandLine"], "/bin/kept --for-later and more")
        XCTAssertEqual(reused["CommandLine"], "/bin/other --overwrites-nothing")
    }
}

/// ``Event/reserveArena(capacity:)``: values set after it fit without the
/// arena moving, and read back as set.
final class EventArenaReserveTests: XCTestCase {
    func testValuesWithinTheReservedRoomTakeOneAllocation() {
        var e = Event(.processCreate, time: EventTime(nanosecondsSinceEpoch: 1_706_745_599_123_456_789))
        let image = EventKind.processCreate.index(of: "Image")!
        let commandLine = EventKind.processCreate.index(of: "CommandLine")!
        let imageText = "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"
        let commandText = String(repeating: "-EncodedCommand SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQA ", count: 20)
        e.reserveArena(capacity: imageText.utf8.count + commandText.utf8.count)
        XCTAssertGreaterThanOrEqual(e.arena.capacity, 8 * EventKind.processCreate.fieldCount + imageText.utf8.count + commandText.utf8.count)
        let before = e.arena.withUnsafeBufferPointer { $0.baseAddress }
        Array(imageText.utf8).withUnsafeBufferPointer { e.setValidUTF8(image, $0) }
        Array(commandText.utf8).withUnsafeBufferPointer { e.setValidUTF8(commandLine, $0) }
        XCTAssertEqual(e.arena.withUnsafeBufferPointer { $0.baseAddress }, before, "the arena did not move")
        XCTAssertEqual(e[image], imageText)
        XCTAssertEqual(e[commandLine], commandText)
        XCTAssertEqual(e.values.filter { $0 != Event.absent }.count, 3, "UtcTime, Image, CommandLine")

        // Reserving again on a filled arena keeps what it holds.
        e.reserveArena(capacity: 4096)
        XCTAssertEqual(e[image], imageText)
        XCTAssertEqual(e[commandLine], commandText)
    }
}
