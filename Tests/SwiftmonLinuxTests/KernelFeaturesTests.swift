import CLibbpf
import Foundation
import XCTest
import SwiftmonTestSupport
@testable import SwiftmonLinux

/// What the loader asks of the kernel before load, asked of this machine's
/// kernel and of the embedded object (opened only: nothing goes into the
/// kernel, so no root is needed).
final class KernelFeaturesTests: XCTestCase {
    func testTheKernelBTFHasTheTracepointsSwiftmonNeedsAndNoInventedOne() throws {
        guard FileManager.default.fileExists(atPath: "/sys/kernel/btf/vmlinux") else {
            try TestRequirement.unavailable("this kernel has no BTF")
        }
        let kernel = KernelFeatures()
        XCTAssertTrue(kernel.hasTracepoint("sched_process_exec"))
        XCTAssertTrue(kernel.hasTracepoint("sys_exit"))
        XCTAssertFalse(kernel.hasTracepoint("swiftmon_no_such_tracepoint"))
    }

    func testHelpersAreReadFromEachProgramsOwnInstructions() throws {
        let sensor = try BPFSensor(ringBufferBytes: 1 << 20)
        let image = try XCTUnwrap(sensor.program(named: "image_sys_exit"))
        let imageHelpers = KernelFeatures.helpers(calledBy: image)
        XCTAssertTrue(imageHelpers.contains(Int32(BPF_FUNC_find_vma.rawValue)), "\(imageHelpers)")
        XCTAssertTrue(imageHelpers.contains(Int32(BPF_FUNC_loop.rawValue)), "\(imageHelpers)")
        let dispatcher = try XCTUnwrap(sensor.program(named: "sys_exit_dispatch"))
        let dispatcherHelpers = KernelFeatures.helpers(calledBy: dispatcher)
        XCTAssertTrue(dispatcherHelpers.contains(Int32(BPF_FUNC_tail_call.rawValue)), "\(dispatcherHelpers)")
        XCTAssertFalse(dispatcherHelpers.contains(Int32(BPF_FUNC_find_vma.rawValue)), "\(dispatcherHelpers)")
    }

    func testHelperNamesFollowTheirNumbers() {
        XCTAssertEqual(sm_bpf_helper_name(BPF_FUNC_map_lookup_elem.rawValue).map { String(cString: $0) }, "bpf_map_lookup_elem")
        XCTAssertEqual(sm_bpf_helper_name(BPF_FUNC_find_vma.rawValue).map { String(cString: $0) }, "bpf_find_vma")
        XCTAssertNil(sm_bpf_helper_name(UInt32(__BPF_FUNC_MAX_ID.rawValue)))
    }

    func testEachProgramNamesItsHookOrNoneForTheTailCalledHandlers() throws {
        let sensor = try BPFSensor(ringBufferBytes: 1 << 20)
        let hooks = sensor.programNames.map { name in (name, sensor.program(named: name).flatMap(BPFSensor.hook(of:))) }
        XCTAssertTrue(hooks.contains { $0 == ("sched_process_exec", "sched_process_exec") }, "\(hooks)")
        XCTAssertTrue(hooks.contains { $0 == ("sys_exit_dispatch", "sys_exit") }, "\(hooks)")
        XCTAssertTrue(hooks.contains { $0.0 == "file_sys_exit" && $0.1 == nil }, "\(hooks)")
    }
}
