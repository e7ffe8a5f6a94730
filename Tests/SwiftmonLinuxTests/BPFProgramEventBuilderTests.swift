import SwiftmonCore
import XCTest
@testable import SwiftmonLinux

/// bpf(2) records → eBPFEvent: command, and the program when it has an id (BuilderScenario).
final class BPFProgramEventBuilderTests: XCTestCase {
    func testCommandsAndPrograms() throws {
        let steps = BuilderScenario.run()
        let load = try steps.event("bpf: BPF_PROG_LOAD")
        XCTAssertEqual([load["BpfCommand"], load["BpfProgramType"], load["BpfProgramId"], load["BpfProgramName"]],
                       ["BPF_PROG_LOAD", "BPF_PROG_TYPE_TRACEPOINT", "77", "trace_exec"])
        let link = try steps.event("bpf: BPF_LINK_CREATE")
        XCTAssertEqual([link["BpfCommand"], link["BpfProgramType"], link["BpfProgramId"]], ["BPF_LINK_CREATE", "-", "-"])
        let attachBPF = try steps.event("bpf: BPF_PROG_ATTACH")
        XCTAssertEqual([attachBPF["BpfProgramType"], attachBPF["BpfProgramName"]], ["9999", "-"])
        XCTAssertEqual(try steps.event("bpf: a command")["BpfCommand"], "BPF_CMD_99")
        XCTAssertEqual(try steps.event("bpf: BPF_RAW_TRACEPOINT_OPEN")["BpfProgramName"], "abcdefghijklmno")
    }
}
