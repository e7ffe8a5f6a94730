import XCTest
@testable import SwiftmonCore

/// One test row per runtime naming convention, systemd and cgroupfs drivers.
final class ContainerIdentityTests: XCTestCase {
    let id = String(repeating: "0123456789abcdef", count: 4)
    let pod = "1f2e3d4c-5b6a-4798-8a7b-6c5d4e3f2a1b"
    var podEscaped: String { pod.replacingDashes() }

    func check(_ path: String, _ expected: ContainerIdentity?, line: UInt = #line) {
        XCTAssertEqual(ContainerIdentity.of(cgroupPath: path), expected, path, line: line)
    }

    func testDockerSystemdDriver() { check("/system.slice/docker-\(id).scope", .init(runtime: "docker", id: id)) }
    func testDockerCgroupfsDriver() { check("/docker/\(id)", .init(runtime: "docker", id: id)) }

    func testKubernetesContainerdSystemdDriver() {
        check("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(podEscaped).slice/cri-containerd-\(id).scope",
              .init(runtime: "containerd", id: id, podUID: pod))
    }

    func testKubernetesGuaranteedPodHasNoQoSSlice() {
        check("/kubepods.slice/kubepods-pod\(podEscaped).slice/cri-containerd-\(id).scope",
              .init(runtime: "containerd", id: id, podUID: pod))
    }

    func testKubernetesCgroupfsDriver() {
        check("/kubepods/besteffort/pod\(pod)/\(id)", .init(runtime: "cri", id: id, podUID: pod))
    }

    func testCrioSystemdAndCgroupfs() {
        check("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod\(podEscaped).slice/crio-\(id).scope",
              .init(runtime: "cri-o", id: id, podUID: pod))
        check("/kubepods/besteffort/pod\(pod)/crio-\(id)", .init(runtime: "cri-o", id: id, podUID: pod))
    }

    func testPodman() {
        check("/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-\(id).scope", .init(runtime: "podman", id: id))
        check("/machine.slice/libpod-\(id).scope", .init(runtime: "podman", id: id))
        check("/machine.slice/libpod-conmon-\(id).scope", nil)  // podman's monitor, not the container
    }

    func testLXCAndNspawnNameTheirContainers() {
        check("/lxc.payload.web1", .init(runtime: "lxc", id: "web1"))
        check("/lxc.payload.web1/system.slice/cron.service", .init(runtime: "lxc", id: "web1"))
        check("/machine.slice/machine-build\\x2dbox.scope", .init(runtime: "systemd-nspawn", id: "build-box"))
    }

    func testANestedCgroupStillNamesItsContainer() {
        check("/system.slice/docker-\(id).scope/init.scope", .init(runtime: "docker", id: id))
    }

    func testHostCgroupsAreNoContainer() {
        check("/", nil)
        check("/user.slice/user-0.slice/session-3.scope", nil)
        check("/system.slice/docker.service", nil)
        check("/system.slice/docker-short.scope", nil)
        check("/kubepods.slice/kubepods-burstable.slice", nil)
    }
}

extension String {
    fileprivate func replacingDashes() -> String { String(map { $0 == "-" ? "_" : $0 }) }
}
