import Foundation
import SwiftmonTestSupport
import XCTest
@testable import SwiftmonLinux

/// Containers as runtimes make them, without a runtime: a cgroup directory on
/// the unified hierarchy named the way each runtime names its cgroups, a
/// process moved into it (its pid written to cgroup.procs, as runc/crun do for
/// a container's init), then `unshare --pid --fork --mount-proc --uts --net`
/// and a probe that creates a file and makes a TCP connection. The real sensor
/// must put the container, pod and namespaces on the probe's ProcessCreate,
/// FileCreate and NetworkConnect, and `-` on a host process's; a Sysmon rule on
/// ContainerId must select them; the store must find them by a 12-character
/// prefix, and `tree` must mark where the tree enters the container.
final class LiveContainerEventTests: XCTestCase {
    struct Case {
        let label: String
        /// Below the test's own top-level cgroup.
        let path: String
        let runtime: String
        let id: String
        let pod: String?
    }

    static func hexID() -> String {
        (0..<2).map { _ in UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased() }.joined()
    }

    func testContainersOfEachNamingConventionAndTheHost() throws {
        try LiveSensor.requireLiveSensor()
        guard let mountinfo = ProcFile.read("/proc/self/mountinfo"),
              let hierarchy = CgroupHierarchy.mountPoint(inMountinfo: mountinfo) else {
            try TestRequirement.unavailable("no cgroup v2 hierarchy mounted")
        }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare") else {
            try TestRequirement.unavailable("/usr/bin/unshare (util-linux) is missing")
        }
        let helper = try XCTUnwrap(LiveSensor.helper)
        let top = "/swiftmon-test-\(UUID().uuidString.prefix(8).lowercased())"
        let uid = UUID().uuidString.lowercased()
        let docker = Self.hexID(), containerd = Self.hexID(), podman = Self.hexID(), plain = Self.hexID()
        let cases = [
            Case(label: "docker (systemd driver)", path: "/system.slice/docker-\(docker).scope",
                 runtime: "docker", id: docker, pod: nil),
            Case(label: "containerd in a Kubernetes pod (systemd driver)",
                 path: "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod"
                     + uid.replacingOccurrences(of: "-", with: "_") + ".slice/cri-containerd-\(containerd).scope",
                 runtime: "containerd", id: containerd, pod: uid),
            Case(label: "podman", path: "/machine.slice/libpod-\(podman).scope", runtime: "podman", id: podman, pod: nil),
            Case(label: "lxc", path: "/lxc.payload.web-\(top.suffix(8))", runtime: "lxc", id: "web-\(top.suffix(8))", pod: nil),
            Case(label: "docker (cgroupfs driver)", path: "/docker/\(plain)", runtime: "docker", id: plain, pod: nil),
        ]
        // Every directory made, deepest last; removed deepest first.
        var made: [String] = []
        defer {
            for dir in made.reversed() {
                for _ in 0..<50 where rmdir(dir) != 0 && errno == EBUSY { usleep(20_000) }
            }
        }
        for c in cases {
            var at = hierarchy + top
            for component in ([""] + c.path.split(separator: "/").map(String.init)) {
                if !component.isEmpty { at += "/" + component }
                if !made.contains(at) {
                    XCTAssertEqual(mkdir(at, 0o755), 0, "mkdir \(at): \(String(cString: strerror(errno)))")
                    made.append(at)
                }
            }
        }

        let config = try makeTestDirectory("container-config").appendingPathComponent("config.xml")
        defer { try? FileManager.default.removeItem(at: config.deletingLastPathComponent()) }
        // FileCreate only from containers: the example rule.
        let others = ["ProcessCreate", "NetworkConnect", "ProcessTerminate"].map {
            "<RuleGroup name=\"\" groupRelation=\"or\"><\($0) onmatch=\"exclude\"/></RuleGroup>"
        }
        let xml = "<Sysmon schemaversion=\"4.90\"><EventFiltering>\(others.joined())"
            + "<RuleGroup name=\"\" groupRelation=\"or\"><FileCreate onmatch=\"include\">"
            + "<ContainerId condition=\"is not\">-</ContainerId></FileCreate></RuleGroup></EventFiltering></Sysmon>\n"
        try Data(xml.utf8).write(to: config)
        let work = try makeTestDirectory("containers")
        defer { try? FileManager.default.removeItem(at: work) }
        let store = work.path + "/events.db"
        let sensor = try LiveSensor(arguments: ["--config", config.path, "--store", store])

        struct Seen { let c: Case; let file: String; let pid: String; let pidNS: String; let mntNS: String; let netNS: String }
        var seen: [Seen] = []
        for (n, c) in cases.enumerated() {
            let file = work.path + "/probe-\(n)"
            let procs = hierarchy + top + c.path + "/cgroup.procs"
            let run = try runCapturing(helper.path, ["in-cgroup", procs, "/usr/bin/unshare", "--pid", "--fork",
                                                     "--mount-proc", "--uts", "--net", helper.path, "container-probe", file])
            XCTAssertEqual(run.status, 0, "\(c.label): \(run.output)")
            let words = run.output.split(whereSeparator: \.isWhitespace).map(String.init)
            guard words.count == 6 else { XCTFail("\(c.label): probe printed \(run.output)"); continue }
            XCTAssertEqual(words[0], "1", "\(c.label): the probe is pid 1 of its pid namespace")
            seen.append(Seen(c: c, file: file, pid: words[0], pidNS: words[1], mntNS: words[2], netNS: words[3]))
        }
        let hostFile = work.path + "/host-file"
        let host = try runCapturing(helper.path, ["create", hostFile])
        XCTAssertEqual(host.status, 0)

        func probeCreate(_ events: [[String: Any]], _ s: Seen) -> [String: Any]? {
            events.with(id: 1).first {
                let line = ($0["CommandLine"] as? String) ?? ""
                return line.hasSuffix("container-probe \(s.file)") && !line.contains("in-cgroup")
                    && !line.contains("unshare")
            }
        }
        try sensor.waitFor(timeout: 30) { events in
            seen.allSatisfy { s in
                guard let create = probeCreate(events, s), let pid = create["ProcessId"] as? String else { return false }
                return !events.with(id: 11, "TargetFilename", equalTo: s.file).isEmpty
                    && events.with(id: 3, "ProcessId", equalTo: pid).count >= 2
            } && !events.with(id: 1, "CommandLine", containing: hostFile).isEmpty
        }
        usleep(300_000)
        let events = sensor.stop()

        // The host: `-` for the container, its own cgroup and namespaces.
        let hostCreate = try XCTUnwrap(events.with(id: 1, "CommandLine", containing: hostFile).first)
        for field in ["ContainerId", "ContainerRuntime", "PodUid", "ContainerProcessId"] {
            XCTAssertEqual(hostCreate[field] as? String, "-", "host process: \(field)")
        }
        XCTAssertEqual(hostCreate["PidNamespace"] as? String, try Self.namespace("/proc/self/ns/pid"))
        XCTAssertEqual(hostCreate["NetNamespace"] as? String, try Self.namespace("/proc/self/ns/net"))
        XCTAssertEqual(hostCreate["CgroupPath"] as? String, Self.ownCgroup())
        XCTAssertTrue(events.with(id: 11, "TargetFilename", equalTo: hostFile).isEmpty,
                      "<ContainerId condition=\"is not\">-</ContainerId> leaves out the host's FileCreate")

        for s in seen {
            let c = s.c
            let create = try XCTUnwrap(probeCreate(events, s), c.label)
            let hostPid = try XCTUnwrap(create["ProcessId"] as? String)
            XCTAssertNotEqual(hostPid, "1")
            let file = try XCTUnwrap(events.with(id: 11, "TargetFilename", equalTo: s.file).first, c.label)
            let network = events.with(id: 3, "ProcessId", equalTo: hostPid)
            XCTAssertEqual(network.count, 2, "\(c.label): connect and accept")
            for (what, e) in [("ProcessCreate", create), ("FileCreate", file)] + network.map({ ("NetworkConnect", $0) }) {
                let label = "\(c.label) \(what)"
                XCTAssertEqual(e["ProcessId"] as? String, hostPid, label)
                XCTAssertEqual(e["ContainerId"] as? String, c.id, label)
                XCTAssertEqual(e["ContainerRuntime"] as? String, c.runtime, label)
                XCTAssertEqual(e["PodUid"] as? String, c.pod ?? "-", label)
                XCTAssertEqual(e["CgroupPath"] as? String, top + c.path, label)
                XCTAssertEqual(e["PidNamespace"] as? String, s.pidNS, label)
                XCTAssertEqual(e["MntNamespace"] as? String, s.mntNS, label)
                XCTAssertEqual(e["NetNamespace"] as? String, s.netNS, label)
                XCTAssertEqual(e["ContainerProcessId"] as? String, "1", label)
            }
            // unshare itself: in the container's cgroup, still in the host's
            // pid namespace (only its child enters the new one).
            let unshare = events.with(id: 1, "CommandLine", containing: "container-probe \(s.file)").first {
                ($0["Image"] as? String)?.hasSuffix("/unshare") == true
            }
            XCTAssertEqual(unshare?["ContainerId"] as? String, c.id, c.label)
            XCTAssertEqual(unshare?["PidNamespace"] as? String, hostCreate["PidNamespace"] as? String, c.label)
            XCTAssertEqual(unshare?["ContainerProcessId"] as? String, "-", c.label)
        }

        // The store: by a 12-character prefix, as `docker ps` shows ids.
        let query = try BuiltBinary.runSwiftmon(["query", "--store", store, "--container", String(docker.prefix(12)),
                                                 "--format", "json", "--limit", "0"])
        XCTAssertEqual(query.status, 0, query.stderrText)
        let found = query.stdoutText.split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
        }
        XCTAssertFalse(found.isEmpty)
        XCTAssertTrue(found.allSatisfy { ($0["ContainerId"] as? String) == docker }, query.stdoutText)
        XCTAssertEqual(Set(found.compactMap { $0["EventID"] as? Int }).intersection([1, 3, 11]), [1, 3, 11])
        let none = try BuiltBinary.runSwiftmon(["query", "--store", store, "--container", "ffffffffffff0000", "--format", "json"])
        XCTAssertEqual(none.status, 0)
        XCTAssertEqual(none.stdoutText, "")

        // The tree marks where it enters the container (the probe's parent,
        // in-cgroup then unshare, started on the host).
        let dockerProbe = try XCTUnwrap(seen.first.flatMap { probeCreate(events, $0) })
        let tree = try BuiltBinary.runSwiftmon(["tree", "--store", store, try XCTUnwrap(dockerProbe["ProcessGuid"] as? String)])
        XCTAssertEqual(tree.status, 0, tree.stderrText)
        XCTAssertTrue(tree.stdoutText.contains("⇨ container docker \(docker.prefix(12)), pid 1 inside"), tree.stdoutText)
    }

    static func namespace(_ link: String) throws -> String {
        var st = stat()
        guard stat(link, &st) == 0 else { throw SensorTestError("stat \(link)") }
        return String(st.st_ino)
    }

    static func ownCgroup() -> String? {
        ProcScanner.unifiedCgroupPath(ProcFile.read("/proc/self/cgroup") ?? [])
    }
}
