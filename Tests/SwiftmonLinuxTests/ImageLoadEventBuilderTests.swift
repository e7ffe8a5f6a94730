import SwiftmonCore
import XCTest
@testable import SwiftmonLinux

/// Image records → ImageLoad: a file mapped executable by mmap or mprotect (BuilderScenario).
final class ImageLoadEventBuilderTests: XCTestCase {
    func testMappedFiles() throws {
        let steps = BuilderScenario.run()
        XCTAssertEqual(try steps.event("image: mmap")["ImageLoaded"], "/usr/lib/x86_64-linux-gnu/libc.so.6")
        XCTAssertEqual(try steps.event("image: mprotect")["ImageLoaded"], "/tmp/plugin.so")
    }
}
