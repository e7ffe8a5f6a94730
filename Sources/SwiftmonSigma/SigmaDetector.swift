import SwiftmonCore
import SwiftmonRules

/// The pipeline stage that runs Sigma rules on every event the Sysmon filter
/// kept and raises one SigmaMatch (210) event per match, right behind it.
/// Thread-safe: the evaluator's scratch state is used under a lock (the
/// producer is one thread, so it is uncontended).
public final class SigmaDetector: EventDetector, @unchecked Sendable {  // evaluator and correlation state are guarded by `lock`
    public let ruleSet: SigmaRuleSet
    private let lock = Lock()
    private let evaluator: SigmaEvaluator
    private let correlationState: SigmaCorrelationState
    private var matched: [Int] = []
    private var counts = Counts()

    public struct Counts: Sendable {
        public var eventsEvaluated: UInt64 = 0
        public var alerts: UInt64 = 0
        public var regexBudgetExceeded: UInt64 = 0
        public var correlationGroupsEvicted: UInt64 = 0
        /// Correlation groups with an open window now (at most
        /// ``SigmaDetector/maximumCorrelationGroups`` per correlation).
        public var correlationGroupsHeld: Int = 0

        /// One line for `--stats`.
        public var summary: String {
            "sigma: \(eventsEvaluated) events evaluated, \(alerts) alerts, \(regexBudgetExceeded) regex evaluations stopped at the step budget, "
                + "\(correlationGroupsHeld) correlation groups held, \(correlationGroupsEvicted) forgotten"
        }
    }

    public static var maximumCorrelationGroups: Int { SigmaCorrelationState.maximumGroups }

    public init(_ ruleSet: SigmaRuleSet) {
        self.ruleSet = ruleSet
        self.evaluator = SigmaEvaluator(ruleSet)
        self.correlationState = SigmaCorrelationState(count: ruleSet.correlations.count)
    }

    public var statistics: Counts {
        lock.withLock {
            var c = counts
            c.regexBudgetExceeded = evaluator.regexBudgetExceeded
            c.correlationGroupsEvicted = correlationState.evicted
            c.correlationGroupsHeld = correlationState.groups.reduce(0) { $0 + $1.count }
            return c
        }
    }

    public func detect(_ event: Event, into alerts: inout [Event]) {
        lock.withLock {
            counts.eventsEvaluated += 1
            matched.removeAll(keepingCapacity: true)
            evaluator.matches(event, into: &matched)
            for number in matched {
                if ruleSet.raisesAlert(number) {
                    alerts.append(Self.alert(ruleSet.rules[number].document, for: event))
                    counts.alerts += 1
                }
                for c in ruleSet.correlationInputs[number] ?? [] {
                    let correlation = ruleSet.correlations[c]
                    if let window = correlationState.feed(correlation, rule: number, event: event) {
                        alerts.append(Self.alert(correlation.document, for: event, correlated: window))
                        counts.alerts += 1
                    }
                }
            }
        }
    }

    /// The SigmaMatch event for `document` matching `event`.
    public static func alert(_ document: SigmaDocument, for event: Event) -> Event {
        alert(document, for: event, correlated: nil)
    }

    static func alert(_ document: SigmaDocument, for event: Event, correlated: [CorrelatedEvent]?) -> Event {
        var e = Event(.sigmaMatch, time: event.time)
        e["RuleId"] = document.id ?? document.name ?? "-"
        e["RuleTitle"] = document.title
        e["RuleLevel"] = document.level ?? "-"
        e["RuleTags"] = document.tags.isEmpty ? "-" : document.tags.joined(separator: ",")
        e["RuleStatus"] = document.status ?? "-"
        e["RuleAuthor"] = document.author ?? "-"
        e["MatchedEventID"] = String(event.kind.id)
        e.copy("ProcessGuid", from: event, "ProcessGuid")
        e.copy("ProcessId", from: event, "ProcessId")
        e.copy("Image", from: event, "Image")
        if event.kind == .processAccess {
            e.copy("ProcessGuid", from: event, "SourceProcessGUID")
            e.copy("ProcessId", from: event, "SourceProcessId")
            e.copy("Image", from: event, "SourceImage")
        }
        if let correlated {
            e["CorrelatedEvents"] = "\(correlated.count): " + correlated.map(\.text).joined(separator: "; ")
        }
        return e
    }
}
