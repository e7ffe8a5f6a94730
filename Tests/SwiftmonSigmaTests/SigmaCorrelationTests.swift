import SwiftmonCore
@testable import SwiftmonSigma
import XCTest

/// Correlation rules on a stream of events, and the SigmaMatch events raised.
final class SigmaCorrelationTests: XCTestCase {
    typealias F = SigmaFixture
    static let second: Int64 = 1_000_000_000
    static let t0: Int64 = 1_700_000_000 * second

    func rules(_ correlation: String) -> String {
        F.processRule("s:\n    Image|endswith: '/id'\ncondition: s", title: "recon-a", extra: "name: recon_a")
            + "\n---\n" + F.processRule("s:\n    Image|endswith: '/whoami'\ncondition: s", title: "recon-b", extra: "name: recon_b")
            + "\n---\n" + correlation
    }

    func run(_ set: SigmaRuleSet, _ events: [(String, String, Int64)]) -> [Event] {
        let detector = SigmaDetector(set)
        var alerts: [Event] = []
        for (image, user, t) in events {
            detector.detect(F.event(.processCreate, ["Image": image, "User": user, "ProcessId": "42",
                                                      "ProcessGuid": "{g}"], time: Self.t0 + t * Self.second), into: &alerts)
        }
        return alerts
    }

    func testEventCountGroupedWithinTimespan() {
        let set = F.ruleSet(rules("""
            title: Many id
            id: corr-1
            level: high
            correlation:
                type: event_count
                rules:
                    - recon_a
                group-by:
                    - User
                timespan: 10s
                condition:
                    gte: 3
            """))
        XCTAssertEqual(set.correlations.count, 1, "\(set.reports)")
        // root: 3 within 10 s → one alert; bob: 3 spread over 30 s → none.
        let alerts = run(set, [("/usr/bin/id", "root", 0), ("/usr/bin/id", "bob", 0), ("/usr/bin/id", "root", 4),
                               ("/usr/bin/id", "bob", 15), ("/usr/bin/id", "root", 8), ("/usr/bin/id", "bob", 30)])
        XCTAssertEqual(alerts.count, 1)
        XCTAssertEqual(alerts.first?["RuleId"], "corr-1")
        XCTAssertEqual(alerts.first?["RuleTitle"], "Many id")
        XCTAssertTrue(alerts.first?["CorrelatedEvents"]?.hasPrefix("3: 1@") ?? false, alerts.first?["CorrelatedEvents"] ?? "")
    }

    func testGenerateKeepsTheBaseRulesAlerts() {
        let set = F.ruleSet(rules("""
            title: Many id
            correlation:
                type: event_count
                rules: [recon_a]
                timespan: 1m
                generate: true
                condition:
                    gte: 2
            """))
        let alerts = run(set, [("/usr/bin/id", "root", 0), ("/usr/bin/id", "root", 1)])
        XCTAssertEqual(alerts.map { $0["RuleTitle"] ?? "" }, ["recon-a", "recon-a", "Many id"])
    }

    func testValueCount() {
        let set = F.ruleSet(rules("""
            title: id by many users
            correlation:
                type: value_count
                rules: [recon_a]
                timespan: 1m
                condition:
                    field: User
                    gte: 3
            """))
        XCTAssertEqual(run(set, [("/usr/bin/id", "a", 0), ("/usr/bin/id", "a", 1), ("/usr/bin/id", "b", 2)]).count, 0)
        XCTAssertEqual(run(set, [("/usr/bin/id", "a", 0), ("/usr/bin/id", "b", 1), ("/usr/bin/id", "c", 2)]).count, 1)
    }

    func testTemporalAndOrdered() {
        let temporal = F.ruleSet(rules("""
            title: recon pair
            correlation:
                type: temporal
                rules: [recon_a, recon_b]
                group-by: [User]
                timespan: 5s
            """))
        XCTAssertEqual(run(temporal, [("/usr/bin/whoami", "u", 0), ("/usr/bin/id", "u", 2)]).count, 1)
        XCTAssertEqual(run(temporal, [("/usr/bin/whoami", "u", 0), ("/usr/bin/id", "v", 2)]).count, 0, "other group")
        XCTAssertEqual(run(temporal, [("/usr/bin/whoami", "u", 0), ("/usr/bin/id", "u", 9)]).count, 0, "too far apart")
        let ordered = F.ruleSet(rules("""
            title: recon in order
            correlation:
                type: temporal_ordered
                rules: [recon_a, recon_b]
                timespan: 5s
            """))
        XCTAssertEqual(run(ordered, [("/usr/bin/id", "u", 0), ("/usr/bin/whoami", "u", 2)]).count, 1)
        XCTAssertEqual(run(ordered, [("/usr/bin/whoami", "u", 0), ("/usr/bin/id", "u", 2)]).count, 0, "wrong order")
    }

    func testStateIsBounded() {
        let set = F.ruleSet(rules("""
            title: Many id
            correlation:
                type: event_count
                rules: [recon_a]
                group-by: [ProcessId]
                timespan: 1h
                condition:
                    gte: 2
            """))
        let detector = SigmaDetector(set)
        var alerts: [Event] = []
        for pid in 0..<(SigmaCorrelationState.maximumGroups + 500) {
            detector.detect(F.event(.processCreate, ["Image": "/usr/bin/id", "ProcessId": String(pid)], time: Self.t0), into: &alerts)
        }
        XCTAssertEqual(alerts.count, 0)
        XCTAssertEqual(detector.statistics.correlationGroupsEvicted, UInt64(SigmaCorrelationState.maximumGroups / 10))
        // The newest groups are kept: a second event of the last pid fires.
        detector.detect(F.event(.processCreate, ["Image": "/usr/bin/id", "ProcessId": String(SigmaCorrelationState.maximumGroups + 499)],
                                time: Self.t0 + 1), into: &alerts)
        XCTAssertEqual(alerts.count, 1)
    }

    func testBadCorrelationsAreReported() {
        let bad = F.ruleSet(rules("title: x\ncorrelation:\n    type: value_sum\n    rules: [recon_a]\n    timespan: 1m\n"))
        XCTAssertTrue(bad.diagnostics.first?.message.contains("value_sum") ?? false)
        let missing = F.ruleSet(rules("title: x\ncorrelation:\n    type: temporal\n    rules: [nope]\n    timespan: 1m\n"))
        XCTAssertTrue(missing.diagnostics.first?.message.contains("nope") ?? false)
        let span = F.ruleSet(rules("title: x\ncorrelation:\n    type: temporal\n    rules: [recon_a]\n    timespan: soon\n"))
        XCTAssertTrue(span.diagnostics.first?.message.contains("timespan") ?? false)
    }

    func testSigmaMatchEventFields() {
        let set = F.ruleSet(F.processRule("s:\n    Image|endswith: '/id'\ncondition: s", title: "recon-a",
                                          extra: "tags:\n    - attack.discovery\n    - attack.t1033\nauthor: Someone"))
        let alerts = run(set, [("/usr/bin/id", "root", 0)])
        XCTAssertEqual(alerts.count, 1)
        let a = alerts[0]
        XCTAssertEqual(a.kind.id, 210)
        XCTAssertEqual(a.kind.name, "SigmaMatch")
        XCTAssertEqual(a["RuleId"], "recon-a-id")
        XCTAssertEqual(a["RuleLevel"], "high")
        XCTAssertEqual(a["RuleStatus"], "test")
        XCTAssertEqual(a["RuleTags"], "attack.discovery,attack.t1033")
        XCTAssertEqual(a["RuleAuthor"], "Someone")
        XCTAssertEqual(a["MatchedEventID"], "1")
        XCTAssertEqual(a["ProcessId"], "42")
        XCTAssertEqual(a["ProcessGuid"], "{g}")
        XCTAssertEqual(a["Image"], "/usr/bin/id")
        XCTAssertEqual(a["UtcTime"], EventTime(nanosecondsSinceEpoch: Self.t0).sysmonText)
    }

    func testMinimumLevel() {
        let yaml = F.processRule("s:\n    Image|endswith: '/id'\ncondition: s", title: "high-one")
            + "\n---\n" + F.processRule("s:\n    Image|endswith: '/id'\ncondition: s", title: "low-one")
                .replacingOccurrences(of: "level: high", with: "level: low")
        let (docs, _) = SigmaReader.parse(yaml, file: "x.yml")
        let set = SigmaRuleSet(documents: docs, minimumLevel: SigmaLevel.rank("medium"))
        XCTAssertEqual(run(set, [("/usr/bin/id", "u", 0)]).map { $0["RuleTitle"] ?? "" }, ["high-one"])
    }
}

/// The pipeline keeps alerts when it drops: ordinary events go first.
final class SigmaPipelineTests: XCTestCase {
    final class Collect: EventSink, @unchecked Sendable {
        var events: [Event] = []
        let lock = Lock()
        func emit(_ event: Event) throws { lock.withLock { events.append(event) } }
        func flush() throws {}
        func close() {}
    }

    func testAlertsFollowTheirEventAndAreNotDroppedBeforeOrdinaryEvents() {
        let set = SigmaFixture.ruleSet(SigmaFixture.processRule("s:\n    Image|endswith: '/id'\ncondition: s"))
        let sink = Collect()
        let pipeline = EventPipeline(sinks: [sink], capacity: 100, detector: SigmaDetector(set))
        // Not started: the queue fills. 100 ordinary events, then 50 more each raising an alert.
        pipeline.submit((0..<100).map { _ in SigmaFixture.event(.processCreate, ["Image": "/bin/ls"]) })
        pipeline.submit((0..<50).map { _ in SigmaFixture.event(.processCreate, ["Image": "/usr/bin/id"]) })
        let lost = pipeline.losses.snapshot()[.queueFull] ?? [:]
        XCTAssertEqual(lost["ProcessCreate"], 50)
        XCTAssertNil(lost["SigmaMatch"], "alerts fit in the reserve")
        pipeline.start()
        pipeline.drain()
        pipeline.stop()
        XCTAssertEqual(sink.events.filter { $0.kind == .sigmaMatch }.count, 50)
        XCTAssertEqual(sink.events.count, 150)
        XCTAssertEqual(pipeline.tally.accepted, 150)
    }

    func testAlertBeyondTheReserveIsCountedAsItsOwnLoss() {
        let set = SigmaFixture.ruleSet(SigmaFixture.processRule("s:\n    Image|endswith: '/id'\ncondition: s"))
        let pipeline = EventPipeline(sinks: [Collect()], capacity: 100, detector: SigmaDetector(set))
        let n = 100 + pipeline.alertReserve + 7
        pipeline.submit((0..<n).map { _ in SigmaFixture.event(.processCreate, ["Image": "/usr/bin/id"]) })
        let lost = pipeline.losses.snapshot()[.queueFull] ?? [:]
        // 50 pairs fill the queue; then only alerts, until the reserve is full.
        XCTAssertEqual(lost["ProcessCreate"], UInt64(n - 50))
        XCTAssertEqual(lost["SigmaMatch"], UInt64(n - 50 - pipeline.alertReserve))
        XCTAssertEqual(pipeline.tally.accepted, UInt64(100 + pipeline.alertReserve))
        pipeline.start(); pipeline.stop()
    }

    /// Records, at each flush, how many events had been handed to it.
    final class FlushLog: EventSink, @unchecked Sendable {
        var emitted = 0
        var flushedAt: [Int] = []
        var kinds: [EventKind] = []
        func emit(_ event: Event) throws { emitted += 1; kinds.append(event.kind) }
        func flush() throws { flushedAt.append(emitted) }
        func close() {}
    }

    func testAnAlertIsFlushedRightAfterItIsWrittenNotAtTheEndOfTheBatch() {
        let set = SigmaFixture.ruleSet(SigmaFixture.processRule("s:\n    Image|endswith: '/id'\ncondition: s"))
        let sink = FlushLog()
        let pipeline = EventPipeline(sinks: [sink], capacity: 10_000, detector: SigmaDetector(set))
        // Queued before the sink thread starts: one batch of event, alert, 5,000 ordinary events.
        pipeline.submit([SigmaFixture.event(.processCreate, ["Image": "/usr/bin/id"])]
                        + (0..<5_000).map { _ in SigmaFixture.event(.processCreate, ["Image": "/bin/ls"]) })
        pipeline.start()
        pipeline.drain()
        pipeline.stop()
        XCTAssertEqual(sink.kinds.prefix(2), [.processCreate, .sigmaMatch])
        XCTAssertEqual(sink.flushedAt.first, 2, "flushed once the alert was written, before the next event: \(sink.flushedAt.prefix(5))")
        XCTAssertEqual(sink.emitted, 5_002)
    }
}
