import Foundation
import XCTest

/// `swiftmon run --config`: the real sensor filtering a storm with a Sysmon
/// configuration, and a SIGHUP reload in the middle of it.
final class LiveRuleFilteringTests: XCTestCase {
    func testOnlyMarkedProcessesAreLoggedAndAReloadLosesNothing() throws {
        try LiveSensor.requireLiveSensor()
        let helper = try XCTUnwrap(LiveSensor.helper)
        let mark = "rulemark\(UUID().uuidString.prefix(6))"
        let config = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("\(mark).xml")
        try Data("""
            <?xml version="1.0" encoding="UTF-8"?>
            <Sysmon schemaversion="4.90">
              <EventFiltering>
                <RuleGroup name="group" groupRelation="or">
                  <ProcessCreate onmatch="include">
                    <CommandLine name="marked" condition="contains">\(mark)</CommandLine>
                  </ProcessCreate>
                </RuleGroup>
              </EventFiltering>
            </Sysmon>
            """.utf8).write(to: config)
        defer { try? FileManager.default.removeItem(at: config) }

        let sensor = try LiveSensor(arguments: ["--config", config.path])
        let count = 600
        let storm = Process()
        storm.executableURL = helper
        storm.arguments = ["storm", String(count), "\(mark)-x"]
        let other = Process()
        other.executableURL = helper
        other.arguments = ["storm", String(count), "unmarked-\(UUID().uuidString.prefix(4))"]
        try storm.run()
        try other.run()
        usleep(300_000)
        kill(sensor.process.processIdentifier, SIGHUP)
        usleep(200_000)
        kill(sensor.process.processIdentifier, SIGHUP)
        storm.waitUntilExit()
        other.waitUntilExit()
        try sensor.waitFor(timeout: 60) { $0.with(id: 1, "CommandLine", containing: "\(mark)-x-\(count - 1)").count == 1 }
        usleep(300_000)
        let events = sensor.stop()

        let creates = events.with(id: 1)
        let marked = creates.filter { (($0["CommandLine"] as? String) ?? "").hasPrefix("/bin/true \(mark)-x-") }
        XCTAssertEqual(marked.count, count, "every marked process exactly once across the reloads")
        XCTAssertEqual(Set(marked.compactMap { $0["CommandLine"] as? String }).count, count, "no duplicates")
        XCTAssertTrue(marked.allSatisfy { ($0["RuleName"] as? String) == "marked" })
        XCTAssertTrue(creates.allSatisfy { (($0["CommandLine"] as? String) ?? "").contains(mark) },
                      "nothing unmarked is logged")
        let configEvents = events.with(id: 16)
        XCTAssertEqual(configEvents.count, 3, "one at start, one per reload")
        XCTAssertTrue(configEvents.allSatisfy { ($0["Configuration"] as? String) == config.path })
        XCTAssertTrue(((configEvents.first?["ConfigurationFileHash"] as? String) ?? "").hasPrefix("SHA256="))
        XCTAssertEqual(events.with(id: 255).count, 0)
    }

    func testAnInvalidReloadIsReportedAndTheOldRulesStay() throws {
        try LiveSensor.requireLiveSensor()
        let mark = "keepmark\(UUID().uuidString.prefix(6))"
        let config = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("\(mark).xml")
        try Data("""
            <Sysmon schemaversion="4.90"><EventFiltering><RuleGroup groupRelation="or">
            <ProcessCreate onmatch="include"><CommandLine condition="contains">\(mark)</CommandLine></ProcessCreate>
            </RuleGroup></EventFiltering></Sysmon>
            """.utf8).write(to: config)
        defer { try? FileManager.default.removeItem(at: config) }
        let sensor = try LiveSensor(arguments: ["--config", config.path])
        try Data("<Sysmon schemaversion=\"4.90\"><EventFiltering><Bogus/>".utf8).write(to: config)
        kill(sensor.process.processIdentifier, SIGHUP)
        try sensor.waitFor(timeout: 20) { !$0.with(id: 255).isEmpty }
        try runToCompletion("/bin/true", [mark])
        try runToCompletion("/bin/true", ["other"])
        try sensor.waitFor(timeout: 20) { !$0.with(id: 1, "CommandLine", containing: mark).isEmpty }
        let events = sensor.stop()
        let error = try XCTUnwrap(events.with(id: 255).first)
        XCTAssertEqual(error["ID"] as? String, "2")
        XCTAssertTrue(((error["Description"] as? String) ?? "").contains(config.path), "names the file")
        XCTAssertTrue(sensor.stderrText.contains("not reloaded"), sensor.stderrText)
        XCTAssertEqual(events.with(id: 1).count, 1, "the old rules still filter")
    }
}
