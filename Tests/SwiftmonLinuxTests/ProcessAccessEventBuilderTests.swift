import SwiftmonCore
import XCTest
@testable import SwiftmonLinux

/// Access records → ProcessAccess: each operation, source and target from the cache (BuilderScenario).
final class ProcessAccessEventBuilderTests: XCTestCase {
    func testEachOperationWithSourceAndTarget() throws {
        let steps = BuilderScenario.run()
        let attach = try steps.event("access: PTRACE_ATTACH")
        XCTAssertEqual([attach["GrantedAccess"], attach["SourceThreadId"], attach["SourceImage"], attach["TargetProcessGUID"],
                        attach["TargetImage"], attach["TargetUser"]],
                       ["PTRACE_ATTACH", "201", "/usr/bin/curl", "{c0ffee42-0000-0000-0000-006400000064}",
                        "/usr/bin/bash", "alice"])
        let seize = try steps.event("access: PTRACE_SEIZE")
        XCTAssertEqual([seize["GrantedAccess"], seize["TargetProcessId"], seize["TargetProcessGUID"]],
                       ["PTRACE_SEIZE", "4321", "-"])
        XCTAssertEqual(try steps.event("access: another ptrace")["GrantedAccess"], "PTRACE_\(0x4207)")
        XCTAssertEqual(try steps.event("access: process_vm_readv")["GrantedAccess"], "process_vm_readv")
        let writev = try steps.event("access: process_vm_writev")
        XCTAssertEqual([writev["GrantedAccess"], writev["SourceUser"], writev["SourceImage"], writev["TargetImage"]],
                       ["process_vm_writev", "root", "-", "/usr/bin/curl"])
        XCTAssertEqual(try steps.event("access: a syscall number")["GrantedAccess"], "syscall 999")
    }
}
