import Foundation
import XCTest
import SwiftmonCore
@testable import SwiftmonRules

/// Include/exclude, defaults, group relations and RuleName, as Sysmon's rule
/// engine (Sysinternals/SysmonCommon rules.c) decides them.
final class RuleSetTests: XCTestCase {
    let bash = event(["Image": "/usr/bin/bash", "CommandLine": "bash -c id", "ParentImage": "/usr/sbin/sshd", "User": "root"])
    let curl = event(["Image": "/usr/bin/curl", "CommandLine": "curl http://x", "ParentImage": "/usr/bin/bash", "User": "alice"])
    let ls = event(["Image": "/usr/bin/ls", "CommandLine": "ls", "ParentImage": "/usr/bin/bash", "User": "alice"])

    // MARK: container fields

    /// The container fields filter like Sysmon's own: only containers, one
    /// runtime, a pod, a container by the start of its id.
    func testContainerFieldsInConditions() {
        let id = String(repeating: "4f", count: 32)
        let inPod = event(.fileCreate, ["Image": "/usr/sbin/nginx", "TargetFilename": "/run/nginx.pid", "ContainerId": id,
                                        "ContainerRuntime": "containerd", "PodUid": "0f3c2a1e-5b6d-4e7f-8a9b-0c1d2e3f4a5b"])
        let onHost = event(.fileCreate, ["Image": "/usr/bin/vim", "TargetFilename": "/etc/passwd"])
        let onlyContainers = rules(filtering(
            "<FileCreate onmatch=\"include\"><ContainerId condition=\"is not\">-</ContainerId></FileCreate>"))
        XCTAssertTrue(decide(onlyContainers, inPod).0)
        XCTAssertFalse(decide(onlyContainers, onHost).0, "a host process has ContainerId -")
        let runtime = rules(filtering("""
            <RuleGroup name="" groupRelation="and"><FileCreate onmatch="include">
              <ContainerRuntime condition="is">containerd</ContainerRuntime>
              <ContainerId condition="begin with">\(id.prefix(12))</ContainerId>
            </FileCreate></RuleGroup>
            """))
        XCTAssertTrue(decide(runtime, inPod).0)
        XCTAssertFalse(decide(runtime, onHost).0)
        let hostOnly = rules(filtering("<FileCreate onmatch=\"exclude\"><PodUid condition=\"is not\">-</PodUid></FileCreate>"))
        XCTAssertFalse(decide(hostOnly, inPod).0)
        XCTAssertTrue(decide(hostOnly, onHost).0)
    }

    // MARK: include / exclude

    func testSingleIncludeBlockLogsOnlyMatches() {
        let set = rules(filtering("<ProcessCreate onmatch=\"include\"><Image condition=\"image\">bash</Image></ProcessCreate>"))
        XCTAssertTrue(decide(set, bash).0)
        XCTAssertFalse(decide(set, ls).0)
    }

    func testSingleExcludeBlockLogsEverythingElse() {
        let set = rules(filtering("<ProcessCreate onmatch=\"exclude\"><Image condition=\"image\">bash</Image></ProcessCreate>"))
        XCTAssertFalse(decide(set, bash).0)
        let (logged, name) = decide(set, ls)
        XCTAssertTrue(logged)
        XCTAssertEqual(name, "-")
    }

    func testExcludeWinsOverInclude() {
        let set = rules(filtering("""
            <RuleGroup groupRelation="or"><ProcessCreate onmatch="include"><Image condition="begin with">/usr/bin/</Image></ProcessCreate></RuleGroup>
            <RuleGroup groupRelation="or"><ProcessCreate onmatch="exclude"><User>alice</User></ProcessCreate></RuleGroup>
            """))
        XCTAssertTrue(decide(set, bash).0, "include matches, exclude does not")
        XCTAssertFalse(decide(set, curl).0, "both match: exclude wins")
    }

    /// With more than one block, an event nothing matches is dropped, even when
    /// every block is an exclude block.
    func testSeveralBlocksDropWhatNothingMatches() {
        let includeAndExclude = rules(filtering("""
            <RuleGroup groupRelation="or"><ProcessCreate onmatch="include"><Image condition="image">curl</Image></ProcessCreate></RuleGroup>
            <RuleGroup groupRelation="or"><ProcessCreate onmatch="exclude"><User>root</User></ProcessCreate></RuleGroup>
            """))
        XCTAssertFalse(decide(includeAndExclude, ls).0)
        XCTAssertTrue(decide(includeAndExclude, curl).0)
        XCTAssertFalse(decide(includeAndExclude, bash).0)

        let twoExcludes = rules(filtering("""
            <RuleGroup groupRelation="or"><ProcessCreate onmatch="exclude"><User>root</User></ProcessCreate></RuleGroup>
            <RuleGroup groupRelation="or"><ProcessCreate onmatch="exclude"><Image condition="image">curl</Image></ProcessCreate></RuleGroup>
            """))
        XCTAssertFalse(decide(twoExcludes, ls).0)
        XCTAssertFalse(decide(twoExcludes, bash).0)
        XCTAssertFalse(twoExcludes.mayLog(.processCreate))

        let twoIncludes = rules(filtering("""
            <RuleGroup groupRelation="or"><ProcessCreate onmatch="include"><User>root</User></ProcessCreate></RuleGroup>
            <RuleGroup groupRelation="or"><ProcessCreate onmatch="include"><Image condition="image">curl</Image></ProcessCreate></RuleGroup>
            """))
        XCTAssertTrue(decide(twoIncludes, bash).0)
        XCTAssertTrue(decide(twoIncludes, curl).0)
        XCTAssertFalse(decide(twoIncludes, ls).0)
    }

    func testEmptyBlocks() {
        let include = rules(filtering("<ProcessCreate onmatch=\"include\"/>"))
        XCTAssertFalse(decide(include, bash).0)
        XCTAssertFalse(include.mayLog(.processCreate))
        let exclude = rules(filtering("<NetworkConnect onmatch=\"exclude\"/>"))
        XCTAssertTrue(decide(exclude, event(.networkConnect, ["Image": "/usr/bin/curl"])).0)
        XCTAssertTrue(exclude.mayLog(.networkConnect))
    }

    func testDefaultsWhenTheConfigurationHasNoBlock() {
        let set = rules(filtering(""))
        XCTAssertTrue(decide(set, bash).0, "ProcessCreate is logged without a block")
        XCTAssertTrue(decide(set, event(.processTerminate, ["Image": "/usr/bin/ls"])).0)
        for kind in [EventKind.networkConnect, .fileCreate, .imageLoad, .driverLoad, .rawAccessRead, .processAccess,
                     .fileDelete, .bpfEvent, .threadCreate, .threadTerminate, .serviceInstall, .fileRename] {
            XCTAssertFalse(decide(set, event(kind, [:])).0, "\(kind) is not logged without a block")
            XCTAssertFalse(set.mayLog(kind))
        }
        for kind in [EventKind.serviceStateChange, .configurationChange, .error] {
            XCTAssertTrue(decide(set, event(kind, [:])).0, "\(kind) cannot be filtered")
        }
    }

    func testTheDefaultLogsOnlyProcessCreateAndTerminateAsSysmonDoes() {
        for kind in EventKind.all where kind.ruleTag != nil && kind.id < 200 {
            XCTAssertEqual(kind.loggedWithoutRuleBlock, kind.id == 1 || kind.id == 5, "\(kind)")
        }
    }

    func testBlocksOnlyAffectTheirEvent() {
        let set = rules(filtering("<ProcessTerminate onmatch=\"include\"/><FileCreate onmatch=\"exclude\"/>"))
        XCTAssertTrue(decide(set, bash).0)
        XCTAssertFalse(decide(set, event(.processTerminate, [:])).0)
        XCTAssertTrue(decide(set, event(.fileCreate, ["TargetFilename": "/etc/x"])).0)
    }

    // MARK: group relations

    func testAndGroupNeedsEveryField() {
        let set = rules(filtering("""
            <RuleGroup groupRelation="and"><ProcessCreate onmatch="include">
              <Image condition="image">bash</Image>
              <User>root</User>
            </ProcessCreate></RuleGroup>
            """))
        XCTAssertTrue(decide(set, bash).0)
        XCTAssertFalse(decide(set, event(["Image": "/usr/bin/bash", "User": "alice"])).0)
        XCTAssertFalse(decide(set, event(["Image": "/usr/bin/zsh", "User": "root"])).0)
    }

    /// In an AND group, filters on the same field are OR-ed (Sysmon's
    /// `CombineGroupDone`), whichever comes first.
    func testAndGroupOrsFiltersOnTheSameField() {
        let set = rules(filtering("""
            <RuleGroup groupRelation="and"><ProcessCreate onmatch="include">
              <Image condition="image">zsh</Image>
              <User>root</User>
              <Image condition="image">bash</Image>
            </ProcessCreate></RuleGroup>
            """))
        XCTAssertTrue(decide(set, bash).0)
        XCTAssertTrue(decide(set, event(["Image": "/bin/zsh", "User": "root"])).0)
        XCTAssertFalse(decide(set, event(["Image": "/bin/sh", "User": "root"])).0)
        XCTAssertFalse(decide(set, event(["Image": "/bin/zsh", "User": "alice"])).0)
    }

    func testOrGroupNeedsAnyField() {
        let set = rules(filtering("""
            <RuleGroup groupRelation="or"><ProcessCreate onmatch="include">
              <Image condition="image">curl</Image>
              <User>root</User>
            </ProcessCreate></RuleGroup>
            """))
        XCTAssertTrue(decide(set, bash).0)
        XCTAssertTrue(decide(set, curl).0)
        XCTAssertFalse(decide(set, ls).0)
    }

    /// Outside a RuleGroup, rules are AND-ed from schema 4.2 on and OR-ed up to 4.1.
    func testRelationWithoutRuleGroupDependsOnSchemaVersion() {
        let body = "<ProcessCreate onmatch=\"include\"><Image condition=\"image\">curl</Image><User>root</User></ProcessCreate>"
        let new = rules(filtering(body, version: "4.22"))
        XCTAssertFalse(decide(new, bash).0)
        XCTAssertFalse(decide(new, curl).0)
        XCTAssertTrue(decide(new, event(["Image": "/usr/bin/curl", "User": "root"])).0)
        let old = rules(filtering(body, version: "4.1"))
        XCTAssertTrue(decide(old, bash).0)
        XCTAssertTrue(decide(old, curl).0)
        XCTAssertFalse(decide(old, ls).0)
    }

    func testRuleGroupWithoutRelationIsAnd() {
        let (c, d) = SysmonConfig.check(bytes: Array(filtering("""
            <RuleGroup><ProcessCreate onmatch="include"><Image condition="image">curl</Image><User>root</User></ProcessCreate></RuleGroup>
            """).utf8), path: "t.xml")
        XCTAssertFalse(d.hasErrors)
        XCTAssertTrue(d.contains { $0.severity == .warning && $0.message.contains("groupRelation") })
        let set = RuleSet(c!)
        XCTAssertFalse(decide(set, curl).0)
        XCTAssertTrue(decide(set, event(["Image": "/usr/bin/curl", "User": "root"])).0)
    }

    func testCompoundRules() {
        let set = rules(filtering("""
            <RuleGroup groupRelation="or"><ProcessCreate onmatch="include">
              <Rule name="shell by sshd" groupRelation="and">
                <Image condition="image">bash</Image>
                <ParentImage condition="image">sshd</ParentImage>
              </Rule>
              <Rule name="fetchers" groupRelation="or">
                <Image condition="image">wget</Image>
                <Image condition="image">curl</Image>
              </Rule>
            </ProcessCreate></RuleGroup>
            """))
        XCTAssertEqual(decide(set, bash).1, "shell by sshd")
        XCTAssertEqual(decide(set, curl).1, "fetchers")
        XCTAssertFalse(decide(set, event(["Image": "/usr/bin/bash", "ParentImage": "/usr/bin/tmux"])).0)
        XCTAssertFalse(decide(set, ls).0)
    }

    /// Inside a `<Rule groupRelation="and">` there is no same-field OR-ing.
    func testCompoundAndIsStrict() {
        let set = rules(filtering("""
            <RuleGroup groupRelation="or"><ProcessCreate onmatch="include">
              <Rule groupRelation="and"><Image condition="image">bash</Image><Image condition="image">zsh</Image></Rule>
            </ProcessCreate></RuleGroup>
            """))
        XCTAssertFalse(decide(set, bash).0)
    }

    /// Sysmon's code gives a `<Rule>` without groupRelation OR, not the AND its
    /// documentation announces.
    func testCompoundWithoutRelationIsOr() {
        let set = rules(filtering("""
            <RuleGroup groupRelation="or"><ProcessCreate onmatch="include">
              <Rule><Image condition="image">curl</Image><User>root</User></Rule>
            </ProcessCreate></RuleGroup>
            """))
        XCTAssertTrue(decide(set, bash).0)
        XCTAssertTrue(decide(set, curl).0)
        XCTAssertFalse(decide(set, ls).0)
    }

    func testCompoundInsideAndGroup() {
        let set = rules(filtering("""
            <RuleGroup groupRelation="and"><ProcessCreate onmatch="include">
              <User>alice</User>
              <Rule groupRelation="or"><Image condition="image">curl</Image><Image condition="image">wget</Image></Rule>
            </ProcessCreate></RuleGroup>
            """))
        XCTAssertTrue(decide(set, curl).0)
        XCTAssertFalse(decide(set, ls).0)
        XCTAssertFalse(decide(set, event(["Image": "/usr/bin/curl", "User": "root"])).0)
    }

    // MARK: RuleName

    func testRuleNamePrecedence() {
        let set = rules(filtering("""
            <RuleGroup name="group" groupRelation="or"><ProcessCreate onmatch="include">
              <Image name="own" condition="image">bash</Image>
              <Rule name="rule" groupRelation="and"><Image condition="image">curl</Image></Rule>
              <Image condition="image">ls</Image>
              <Image name="" condition="image">zsh</Image>
            </ProcessCreate></RuleGroup>
            """))
        XCTAssertEqual(decide(set, bash).1, "own")
        XCTAssertEqual(decide(set, curl).1, "rule")
        XCTAssertEqual(decide(set, ls).1, "group")
        XCTAssertEqual(decide(set, event(["Image": "/bin/zsh"])).1, "-", "an explicit empty name names nothing")
    }

    func testRuleNameInOrGroupIsTheFirstMatchInFileOrder() {
        let set = rules(filtering("""
            <RuleGroup groupRelation="or"><ProcessCreate onmatch="include">
              <CommandLine name="second" condition="contains">-c</CommandLine>
              <Image name="first" condition="end with">bash</Image>
              <User name="third">root</User>
            </ProcessCreate></RuleGroup>
            """))
        XCTAssertEqual(decide(set, bash).1, "second")
        XCTAssertEqual(decide(set, event(["Image": "/bin/bash", "User": "root"])).1, "first")
        XCTAssertEqual(decide(set, event(["Image": "/bin/ls", "User": "root"])).1, "third")
    }

    func testRuleNameInAndGroupIsTheLastMatchingFilter() {
        let set = rules(filtering("""
            <RuleGroup groupRelation="and"><ProcessCreate onmatch="include">
              <Image name="a" condition="image">bash</Image>
              <User name="b">root</User>
            </ProcessCreate></RuleGroup>
            """))
        XCTAssertEqual(decide(set, bash).1, "b")
    }

    /// Blocks of one kind are tried newest first: when two include blocks
    /// match, the one later in the file names the event.
    func testLaterIncludeBlockNamesTheEvent() {
        let set = rules(filtering("""
            <RuleGroup name="early" groupRelation="or"><ProcessCreate onmatch="include"><User>root</User></ProcessCreate></RuleGroup>
            <RuleGroup name="late" groupRelation="or"><ProcessCreate onmatch="include"><Image condition="image">bash</Image></ProcessCreate></RuleGroup>
            """))
        XCTAssertEqual(decide(set, bash).1, "late")
        XCTAssertEqual(decide(set, event(["Image": "/bin/ls", "User": "root"])).1, "early")
    }

    /// Sysmon sets RuleName on every matching filter, even in a compound rule
    /// that then fails; a later unnamed match keeps that name.
    func testNameOfAFailedCompoundRuleCarriesOverAsInSysmon() {
        let set = rules(filtering("""
            <RuleGroup name="" groupRelation="or"><ProcessCreate onmatch="include">
              <Rule groupRelation="and"><User name="partial">root</User><Image condition="image">sh</Image></Rule>
              <CommandLine condition="contains">-c</CommandLine>
            </ProcessCreate></RuleGroup>
            """))
        XCTAssertEqual(decide(set, bash).1, "partial")
        XCTAssertEqual(decide(set, event(["Image": "/bin/bash", "CommandLine": "bash -c x", "User": "alice"])).1, "-")
    }

    func testRuleNameIsWrittenIntoTheEvent() {
        let set = rules(filtering("<RuleGroup name=\"G\" groupRelation=\"or\"><ProcessCreate onmatch=\"include\"><User>root</User></ProcessCreate></RuleGroup>"))
        var e = bash
        XCTAssertTrue(set.evaluate(&e))
        XCTAssertEqual(e["RuleName"], "G")
        XCTAssertEqual(e["Image"], "/usr/bin/bash")
    }

    // MARK: events with several kinds per tag

    func testRegistryBlockAppliesToEachRegistryEventByFieldName() {
        let set = rules(filtering("""
            <RuleGroup groupRelation="or"><RegistryEvent onmatch="include">
              <Details name="value" condition="contains">powershell</Details>
              <TargetObject name="run key" condition="end with">\\CurrentVersion\\Run</TargetObject>
            </RegistryEvent></RuleGroup>
            """))
        XCTAssertEqual(decide(set, event(.registryValueSet, ["Details": "powershell -enc", "TargetObject": "HKLM\\x"])).1, "value")
        XCTAssertFalse(decide(set, event(.registryCreateDelete, ["TargetObject": "HKLM\\x"])).0, "event 12 has no Details")
        XCTAssertEqual(decide(set, event(.registryCreateDelete, ["TargetObject": "HKLM\\Software\\Microsoft\\Windows\\CurrentVersion\\Run"])).1, "run key")
    }

    func testSwiftmonsOwnEventsAndExtraFieldsCanBeFiltered() {
        let set = rules(filtering("""
            <RuleGroup groupRelation="or"><ThreadCreate onmatch="include"><Image condition="image">java</Image></ThreadCreate></RuleGroup>
            <RuleGroup groupRelation="or"><DriverLoad onmatch="include"><Image condition="image">insmod</Image></DriverLoad></RuleGroup>
            """))
        XCTAssertTrue(decide(set, event(.threadCreate, ["Image": "/usr/bin/java"])).0)
        XCTAssertFalse(decide(set, event(.threadCreate, ["Image": "/usr/bin/ls"])).0)
        XCTAssertTrue(decide(set, event(.driverLoad, ["ImageLoaded": "/tmp/rootkit.ko", "Image": "/usr/sbin/insmod"])).0)
    }

    // MARK: sharing

    func testConcurrentEvaluationAgrees() {
        let set = rules(filtering("""
            <RuleGroup groupRelation="or"><ProcessCreate onmatch="include"><Image name="sh" condition="image">bash</Image><User name="u">alice</User></ProcessCreate></RuleGroup>
            """))
        let events = [bash, curl, ls]
        let expected = events.map { decide(set, $0).1 }
        final class Tally: @unchecked Sendable {  // `wrong` is guarded by `lock`
            let lock = Lock()
            var wrong = 0
        }
        let tally = Tally()
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            var wrong = 0
            for i in 0..<5000 {
                let e = events[i % 3]
                if decide(set, e).1 != expected[i % 3] { wrong += 1 }
            }
            tally.lock.withLock { tally.wrong += wrong }
        }
        XCTAssertEqual(tally.wrong, 0)
    }
}

extension RuleSetTests {
    func testFieldSizesAndConfigurationEvent() throws {
        let c = try XCTUnwrap(config("<Sysmon schemaversion=\"4.90\"><FieldSizes>CommandLine:5,NoSuchField:3</FieldSizes></Sysmon>"))
        let set = RuleSet(c)
        var e = event(["CommandLine": "abcdéfgh", "Image": "/usr/bin/long-name"])
        set.applyFieldSizes(&e)
        XCTAssertEqual(e["CommandLine"], "abcdé")
        XCTAssertEqual(e["Image"], "/usr/bin/long-name")
        let e16 = set.configurationChangeEvent(time: EventTime(nanosecondsSinceEpoch: 0), fileHash: "SHA256=AB")
        XCTAssertEqual(e16.kind, .configurationChange)
        XCTAssertEqual(e16["Configuration"], "test.xml")
        XCTAssertEqual(e16["ConfigurationFileHash"], "SHA256=AB")
        var copy = e16
        XCTAssertTrue(set.evaluate(&copy), "event 16 cannot be filtered")
    }
}
