import SwiftmonCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Rule-evaluation throughput on realistic ProcessCreate events, for
/// `swiftmon bench rules`. A figure, not a test.
public enum RuleBenchmark {
    public struct Result: Sendable {
        public let events: Int
        /// Wall-clock seconds.
        public let seconds: Double
        /// CPU seconds of the evaluating thread: on a shared machine this is
        /// the figure that says what one core does.
        public let cpuSeconds: Double
        public let logged: Int
        public var eventsPerSecond: Double { Double(events) / seconds }
        public var eventsPerCPUSecond: Double { Double(events) / cpuSeconds }
    }

    /// Evaluates the sample events round-robin on the calling thread for about
    /// `seconds` and reports how many were evaluated.
    public static func run(_ ruleSet: RuleSet, seconds: Double, events samples: [Event] = processCreateSamples()) -> Result {
        var events = samples
        var total = 0
        var logged = 0
        let start = now()
        let cpuStart = now(CLOCK_THREAD_CPUTIME_ID)
        var elapsed = 0.0
        let batch = 4096
        while elapsed < seconds {
            for k in 0..<batch {
                let i = k % events.count
                if ruleSet.evaluate(&events[i]) { logged += 1 }
            }
            total += batch
            elapsed = now() - start
        }
        return Result(events: total, seconds: elapsed, cpuSeconds: now(CLOCK_THREAD_CPUTIME_ID) - cpuStart, logged: logged)
    }

    static func now(_ clock: clockid_t = CLOCK_MONOTONIC) -> Double {
        var ts = timespec()
        clock_gettime(clock, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// ProcessCreate events like a Linux server produces, with a quarter shaped
    /// like Windows ones (from .etl traces), so Windows configurations see both
    /// misses and hits.
    ///
    /// `heldAsBytes`: the paths, command lines and directory held as bytes in
    /// the event's arena, as the live sensor's ProcessEventBuilder holds them
    /// (`Event.setUTF8`); false keeps every value a String, as events read
    /// from text (imports, .etl) and as this benchmark did before. A String
    /// value costs a reference count each time the rules read it; bytes in
    /// the arena do not.
    public static func processCreateSamples(heldAsBytes: Bool = true) -> [Event] {
        let linux: [(String, String, String, String, String)] = [
            ("/usr/bin/bash", "bash -c 'for f in /var/log/*.log; do gzip -9 \"$f\"; done'", "/usr/sbin/cron", "/usr/sbin/cron -f", "root"),
            ("/usr/bin/ls", "ls -la --color=auto /home/alice/projects", "/usr/bin/bash", "-bash", "alice"),
            ("/usr/bin/python3.11", "/usr/bin/python3.11 /opt/app/manage.py runserver 0.0.0.0:8000", "/usr/lib/systemd/systemd", "/sbin/init splash", "app"),
            ("/usr/bin/curl", "curl -fsSL https://example.com/install.sh -o /tmp/install.sh", "/usr/bin/bash", "bash", "bob"),
            ("/usr/lib/systemd/systemd-journald", "/usr/lib/systemd/systemd-journald", "/usr/lib/systemd/systemd", "/sbin/init", "root"),
            ("/usr/bin/git", "git -C /srv/repo fetch --prune origin", "/usr/bin/ssh", "sshd: deploy [priv]", "deploy"),
            ("/usr/bin/sudo", "sudo systemctl restart nginx.service", "/usr/bin/zsh", "-zsh", "carol"),
            ("/usr/sbin/nginx", "nginx: worker process", "/usr/sbin/nginx", "nginx: master process /usr/sbin/nginx -g daemon on;", "www-data"),
            ("/usr/bin/docker", "docker run --rm -v /var/run/docker.sock:/var/run/docker.sock alpine:3.19 sh", "/usr/bin/bash", "bash", "root"),
            ("/usr/bin/ps", "ps -eo pid,ppid,cmd --sort=-%cpu", "/usr/bin/bash", "bash -i", "alice"),
            ("/usr/bin/grep", "grep -R --include=*.conf -n password /etc", "/usr/bin/bash", "bash", "mallory"),
            ("/tmp/.x/kworkerd", "/tmp/.x/kworkerd -o pool.example.net:3333 -u wallet", "/usr/bin/bash", "sh -c /tmp/.x/kworkerd", "www-data"),
        ]
        let windows: [(String, String, String, String, String)] = [
            ("C:\\Windows\\System32\\cmd.exe", "cmd.exe /c whoami /all", "C:\\Windows\\explorer.exe", "C:\\Windows\\Explorer.EXE", "CORP\\alice"),
            ("C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe", "powershell.exe -NoProfile -ExecutionPolicy Bypass -EncodedCommand SQBFAFgA", "C:\\Windows\\System32\\cmd.exe", "cmd.exe", "CORP\\bob"),
            ("C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe", "\"C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe\" --type=renderer", "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe", "chrome.exe", "CORP\\carol"),
            ("C:\\Windows\\System32\\svchost.exe", "C:\\Windows\\system32\\svchost.exe -k netsvcs -p -s Schedule", "C:\\Windows\\System32\\services.exe", "C:\\Windows\\system32\\services.exe", "NT AUTHORITY\\SYSTEM"),
        ]
        var events: [Event] = []
        var pid = 4000
        for (i, s) in (linux + windows).enumerated() {
            var e = Event(.processCreate, time: EventTime(nanosecondsSinceEpoch: 1_700_000_000_000_000_000 + Int64(i) * 1_000_000))
            pid += 17
            e["ProcessGuid"] = "{6f1c2a10-5e3d-65a1-0000-00100000\(String(pid, radix: 16))}"
            e["ProcessId"] = String(pid)
            e["Image"] = s.0
            e["OriginalFileName"] = s.0.split(whereSeparator: { $0 == "/" || $0 == "\\" }).last.map(String.init) ?? "-"
            e["CommandLine"] = s.1
            e["CurrentDirectory"] = s.4.hasPrefix("CORP") ? "C:\\Users\\" : "/home/\(s.4)"
            e["User"] = s.4
            e["LogonId"] = String(1000 + i)
            e["IntegrityLevel"] = "no level"
            e["Hashes"] = "SHA256=6B86B273FF34FCE19D6B804EFF5A3F5747ADA4EAA22F1D49C01E52DDB7875B4B"
            e["ParentProcessId"] = String(pid - 3)
            e["ParentImage"] = s.2
            e["ParentCommandLine"] = s.3
            e["ParentUser"] = s.4
            if heldAsBytes {
                for field in ["Image", "CommandLine", "CurrentDirectory", "ParentImage", "ParentCommandLine"] {
                    guard let i = e.kind.index(of: field), let value = e[field] else { continue }
                    e.setUTF8(i, Array(value.utf8))
                }
            }
            events.append(e)
        }
        return events
    }
}
