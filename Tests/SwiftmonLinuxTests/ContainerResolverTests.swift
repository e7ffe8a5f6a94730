import CSwiftmonRecords
import Foundation
import SwiftmonCore
import SwiftmonSystem
import SwiftmonTestSupport
import XCTest
@testable import SwiftmonLinux

/// Cgroup ids to paths on this machine's unified hierarchy, and the cache
/// that shares one ProcessContainer between processes.
final class ContainerResolverTests: XCTestCase {
    func testTheUnifiedHierarchyIsFoundInMountinfoPureAndHybrid() {
        let hybrid = """
            24 30 0:22 / /sys ro,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
            33 24 0:28 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
            34 33 0:29 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
            35 33 0:30 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
            """
        XCTAssertEqual(CgroupHierarchy.mountPoint(inMountinfo: Array(hybrid.utf8)), "/sys/fs/cgroup/unified")
        let pure = """
            35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
            """
        XCTAssertEqual(CgroupHierarchy.mountPoint(inMountinfo: Array(pure.utf8)), "/sys/fs/cgroup")
        // A bind mount of a sub-cgroup (root not "/") is not the hierarchy's root.
        let bind = """
            40 24 0:30 /system.slice /mnt/x rw - cgroup2 cgroup2 rw
            41 24 0:30 / /srv/cg\\040root rw - cgroup2 cgroup2 rw
            """
        XCTAssertEqual(CgroupHierarchy.mountPoint(inMountinfo: Array(bind.utf8)), "/srv/cg root")
        XCTAssertNil(CgroupHierarchy.mountPoint(inMountinfo: Array("1 0 0:1 / / rw - ext4 /dev/vda rw".utf8)))
    }

    /// The cgroup id is the directory's inode number on cgroup2: the
    /// resolver must name this process's own cgroup, by file handle and by
    /// the walk it falls back to.
    func testOwnCgroupIsResolvedFromItsID() throws {
        guard geteuid() == 0 else { try TestRequirement.unavailable("open_by_handle_at needs root") }
        guard let hierarchy = CgroupHierarchy.mounted() else {
            try TestRequirement.unavailable("no cgroup v2 hierarchy mounted")
        }
        defer { Syscalls.close(hierarchy.mountFD) }
        let own = try XCTUnwrap(ProcScanner.unifiedCgroupPath(ProcFile.read("/proc/self/cgroup") ?? []))
        var st = stat()
        XCTAssertEqual(stat(hierarchy.mountPoint + (own == "/" ? "" : own), &st), 0)
        XCTAssertEqual(hierarchy.path(ofCgroup: UInt64(st.st_ino)), own)
        XCTAssertEqual(hierarchy.walk(for: UInt64(st.st_ino)), own)
        var root = stat()
        XCTAssertEqual(stat(hierarchy.mountPoint, &root), 0)
        XCTAssertEqual(hierarchy.path(ofCgroup: UInt64(root.st_ino)), "/")
        XCTAssertNil(hierarchy.path(ofCgroup: 0x7FFF_FFFF_FFFF), "no such cgroup")
    }

    func testProcessesWithTheSameCgroupAndNamespacesShareOneValue() {
        var asked: [UInt64] = []
        let resolver = ContainerResolver { id in
            asked.append(id)
            return id == 7 ? "/machine.slice/libpod-" + String(repeating: "c", count: 64) + ".scope" : nil
        }
        var c = sm_container_identity()
        c.cgroup_id = 7
        (c.pid_ns, c.mnt_ns, c.net_ns) = (11, 12, 13)
        let a = resolver.container(c), b = resolver.container(c)
        XCTAssertTrue(a === b)
        XCTAssertEqual(a?.identity?.runtime, "podman")
        c.net_ns = 14
        let d = resolver.container(c)
        XCTAssertFalse(a === d)
        XCTAssertEqual(d?.netNamespace, 14)
        XCTAssertEqual(asked, [7], "a path is resolved once per cgroup")
        XCTAssertNil(resolver.container(sm_container_identity()), "a record without identity")
        c.cgroup_id = 8
        XCTAssertNil(resolver.container(c)?.cgroupPath, "a cgroup that is gone: namespaces only")
    }

    /// The builders put the container on every event of the process: from
    /// the exec record, from the fork record before any exec, from the cache
    /// for file, network, thread and exit events.
    func testEventsOfTheScenarioCarryTheirProcessContainer() throws {
        let steps = BuilderScenario.run()
        let id = String(repeating: "ab", count: 32)
        let create = try steps.event("containers: it execs")
        XCTAssertEqual(create.kind, .processCreate)
        XCTAssertEqual(create["ContainerId"], id)
        XCTAssertEqual(create["ContainerRuntime"], "containerd")
        XCTAssertEqual(create["PodUid"], "0f3c2a1e-5b6d-4e7f-8a9b-0c1d2e3f4a5b")
        XCTAssertEqual(create["CgroupPath"], BuilderScenario.cgroups[20])
        XCTAssertEqual(create["PidNamespace"], "4026532301")
        XCTAssertEqual(create["MntNamespace"], "4026532299")
        XCTAssertEqual(create["NetNamespace"], "4026532304")
        XCTAssertEqual(create["ContainerProcessId"], "1")
        let image = try XCTUnwrap(steps.events("containers: it execs").last)
        XCTAssertEqual(image.kind, .imageLoad)
        XCTAssertEqual(Array(image.values.suffix(8)), Array(create.values.suffix(8)), "the executable's ImageLoad too")

        let later = try steps.events("containers: its file and network")
        XCTAssertEqual(later.map(\.kind), [.fileCreate, .networkConnect])
        for e in later + [try steps.event("containers: the contained process exits")] {
            XCTAssertEqual(Array(e.values.suffix(8)), Array(create.values.suffix(8)), "\(e.kind)")
        }

        let gone = try steps.event("containers: a cgroup the hierarchy no longer has")
        XCTAssertEqual([gone["ContainerId"], gone["ContainerRuntime"], gone["CgroupPath"]], ["-", "-", "-"])
        XCTAssertEqual(gone["PidNamespace"], "4026532301")
        XCTAssertEqual(gone["ContainerProcessId"], "2")

        // On the host: `-` for the container, the session's cgroup, no
        // ContainerProcessId (the same pid inside and out).
        let curl = try steps.event("exec: the new process runs curl")
        XCTAssertEqual([curl["ContainerId"], curl["ContainerRuntime"], curl["PodUid"], curl["ContainerProcessId"]],
                       ["-", "-", "-", "-"])
        XCTAssertEqual(curl["CgroupPath"], "/user.slice/user-1000.slice/session-3.scope")
        XCTAssertEqual(curl["PidNamespace"], "4026531836")
        let thread = try steps.event("fork: a thread of the new process")
        XCTAssertEqual(thread["CgroupPath"], curl["CgroupPath"], "known from the fork record before exec")
        // A process the records never placed (the start-up scan's fixture shell).
        let access = try steps.event("access: PTRACE_ATTACH of the shell")
        XCTAssertEqual(access["CgroupPath"], curl["CgroupPath"], "the source process's container")
    }
}
