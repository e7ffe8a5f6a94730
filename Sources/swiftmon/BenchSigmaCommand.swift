import ArgumentParser
import Glibc
import SwiftmonCore
import SwiftmonSigma
import SwiftmonSystem

/// `swiftmon bench sigma RULES…`: ProcessCreate events per second through the
/// Sigma evaluator on one thread, every rule loaded, and the alerts raised.
struct BenchSigma: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sigma",
        abstract: "ProcessCreate events/s through Sigma rules on one core."
    )
    @Argument(help: "Rule files or folders (e.g. ../shared/corpus/sigma/rules/linux).") var paths: [String]
    @Option(help: "Events to evaluate per round.") var events = 1_000_000
    @Option(help: "Rounds (the figure is given per round).") var rounds = 5

    func run() throws {
        let set = try SigmaRuleSet(paths: paths, products: ["linux"])
        let evaluator = SigmaEvaluator(set)
        // A mix shaped like a busy host's: mostly benign, some near misses, a few hits.
        let samples: [(String, String, String)] = [
            ("/usr/bin/ls", "ls -la /var/log", "/usr/bin/bash"),
            ("/usr/bin/git", "git status --porcelain=v2 --branch", "/usr/bin/zsh"),
            ("/usr/bin/python3.11", "/usr/bin/python3 /opt/app/manage.py runserver 0.0.0.0:8000", "/usr/lib/systemd/systemd"),
            ("/usr/bin/grep", "grep -rn TODO src/", "/usr/bin/bash"),
            ("/usr/bin/curl", "curl -fsSL https://example.com/install.sh", "/usr/bin/bash"),
            ("/usr/bin/cat", "cat /etc/hostname", "/usr/bin/sh"),
            ("/usr/sbin/sshd", "sshd: root [priv]", "/usr/sbin/sshd"),
            ("/usr/bin/base64", "base64 -d /tmp/payload", "/usr/bin/bash"),
            ("/usr/bin/find", "find / -name *.conf -type f", "/usr/bin/bash"),
            ("/usr/bin/systemctl", "systemctl status nginx.service", "/usr/bin/sudo"),
        ]
        let pool: [Event] = samples.enumerated().map { i, s in
            var e = Event(.processCreate, time: .now())
            e["Image"] = s.0; e["CommandLine"] = s.1; e["ParentImage"] = s.2
            e["ParentCommandLine"] = "-bash"; e["User"] = "root"; e["CurrentDirectory"] = "/root"
            e["ProcessId"] = String(1000 + i); e["LogonId"] = "0"
            return e
        }
        var matched: [Int] = []
        var text = "\(set.rules.count) rules loaded (\(set.reports.count - set.loadedCount) not), \(events) ProcessCreate events per round\n"
        let always = set.rulesEvaluatedOnEveryEvent(eventID: EventKind.processCreate.id)
        text += "\(set.ruleCount(eventID: EventKind.processCreate.id)) ProcessCreate rules; \(always.count) evaluated on every event"
            + (always.isEmpty ? "" : " (no literal to look for first): " + always.joined(separator: "; ")) + "\n"
        for line in set.automatonSummary(eventID: EventKind.processCreate.id) { text += "  scanned: \(line)\n" }
        var rates: [Double] = []
        for round in 1...rounds {
            var alerts = 0
            let evaluatedBefore = evaluator.conditionsEvaluated
            // Per CPU second of this thread (the figure for one core, whatever else
            // runs on the machine) and per wall-clock second.
            let start = Syscalls.clockNanoseconds(CLOCK_MONOTONIC)
            let cpuStart = Syscalls.clockNanoseconds(CLOCK_THREAD_CPUTIME_ID)
            for i in 0..<events {
                matched.removeAll(keepingCapacity: true)
                evaluator.matches(pool[i % pool.count], into: &matched)
                alerts += matched.count
            }
            let cpu = Double(Syscalls.clockNanoseconds(CLOCK_THREAD_CPUTIME_ID) - cpuStart) / 1e9
            let seconds = Double(Syscalls.clockNanoseconds(CLOCK_MONOTONIC) - start) / 1e9
            let rate = Double(events) / cpu
            rates.append(rate)
            text += "round \(round): \(Int(rate)) events per CPU second (\(Int(Double(events) / seconds)) per wall second), \(alerts) matches, "
                + "\(Double((evaluator.conditionsEvaluated - evaluatedBefore) * 100 / UInt64(events)) / 100) rule conditions evaluated per event\n"
        }
        let sorted = rates.sorted()
        text += "sigma: median \(Int(sorted[sorted.count / 2])) ProcessCreate events/s on one core (min \(Int(sorted.first!)), max \(Int(sorted.last!)), \(rounds) rounds)\n"
        try Array(text.utf8).withUnsafeBytes { try Syscalls.writeAll(1, $0, "standard output") }
    }
}
