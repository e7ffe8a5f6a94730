import SwiftmonCore
import XCTest
@testable import SwiftmonLinux

/// Module records → DriverLoad: the module file, and the result as an errno name (BuilderScenario).
final class DriverLoadEventBuilderTests: XCTestCase {
    func testModuleFileAndResult() throws {
        let steps = BuilderScenario.run()
        let loaded = try steps.event("module: finit_module of a file that loaded")
        XCTAssertEqual([loaded["ImageLoaded"], loaded["Result"], loaded["Image"]],
                       ["/lib/modules/6.12.0/extra/rootkit.ko", "0", "/usr/bin/curl"])
        let memory = try steps.event("module: init_module")
        XCTAssertEqual([memory["ImageLoaded"], memory["Result"]], ["-", "EPERM"])
        XCTAssertEqual(try steps.event("module: finit_module refused")["Result"], "ENOSYS")
        XCTAssertEqual(try steps.event("module: an errno without")["Result"], "errno 4000")
    }
}
