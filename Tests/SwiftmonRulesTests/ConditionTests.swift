import XCTest
import SwiftmonCore
@testable import SwiftmonRules

/// Each condition with values that must and must not match, in an include
/// block so a match means "logged".
final class ConditionTests: XCTestCase {
    func check(_ field: String, _ condition: String, _ value: String,
               match: [String], noMatch: [String], file: StaticString = #filePath, line: UInt = #line) {
        let escaped = value.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        let set = rules(filtering("""
            <RuleGroup name="" groupRelation="or">
              <ProcessCreate onmatch="include">
                <\(field) name="hit" condition="\(condition)">\(escaped)</\(field)>
              </ProcessCreate>
            </RuleGroup>
            """), file: file, line: line)
        for v in match {
            let (logged, name) = decide(set, event([field: v]))
            XCTAssertTrue(logged, "\(condition) '\(value)' should match '\(v)'", file: file, line: line)
            XCTAssertEqual(name, "hit", file: file, line: line)
        }
        for v in noMatch {
            XCTAssertFalse(decide(set, event([field: v])).0, "\(condition) '\(value)' should not match '\(v)'", file: file, line: line)
        }
    }

    func testIs() {
        check("Image", "is", "C:\\Windows\\System32\\cmd.exe",
              match: ["C:\\Windows\\System32\\cmd.exe", "c:\\windows\\system32\\CMD.EXE"],
              noMatch: ["C:\\Windows\\System32\\cmd.exe ", "cmd.exe", "C:\\Windows\\System32\\cmd.ex"])
    }

    func testIsIsTheDefaultCondition() {
        let set = rules(filtering("<ProcessCreate onmatch=\"include\"><Image>/usr/bin/BASH</Image></ProcessCreate>"))
        XCTAssertTrue(decide(set, event(["Image": "/usr/bin/bash"])).0)
        XCTAssertFalse(decide(set, event(["Image": "/usr/bin/bash2"])).0)
    }

    func testIsNot() {
        check("Image", "is not", "/usr/bin/bash", match: ["/usr/bin/zsh", "/usr/bin/bash2", "-"], noMatch: ["/usr/bin/bash", "/USR/BIN/BASH"])
    }

    func testIsAny() {
        check("User", "is any", "root;Alice;www-data",
              match: ["root", "ALICE", "www-data"], noMatch: ["roo", "alice bob", "root;alice", "bob"])
    }

    func testContains() {
        check("CommandLine", "contains", "WhoAmI", match: ["cmd /c whoami /all", "WHOAMI"], noMatch: ["who am i", "whoam"])
    }

    func testContainsAny() {
        check("CommandLine", "contains any", "curl;wget", match: ["/usr/bin/wget -q x", "CURL http://x"], noMatch: ["ls -la", "cur l"])
    }

    func testContainsAll() {
        check("CommandLine", "contains all", "net;view", match: ["net view \\\\host", "VIEW net"], noMatch: ["net use", "view"])
    }

    func testExcludes() {
        check("CommandLine", "excludes", "--safe", match: ["rm -rf /", "-"], noMatch: ["tool --SAFE"])
    }

    /// Sysmon's code, not its documentation: `excludes any` matches when the
    /// value contains none of the items.
    func testExcludesAnyFollowsSysmonsCode() {
        check("CommandLine", "excludes any", "curl;wget", match: ["ls -la"], noMatch: ["curl only", "wget only", "curl and wget"])
    }

    /// Sysmon's code, not its documentation: `excludes all` matches when at
    /// least one item is absent.
    func testExcludesAllFollowsSysmonsCode() {
        check("CommandLine", "excludes all", "net;view", match: ["net use", "nothing", "view only"], noMatch: ["net view"])
    }

    func testBeginWith() {
        check("Image", "begin with", "/tmp/", match: ["/tmp/x", "/TMP/.hidden/miner"], noMatch: ["/var/tmp/x", "/tmp"])
    }

    func testNotBeginWith() {
        check("Image", "not begin with", "/usr/", match: ["/tmp/x", "/us"], noMatch: ["/usr/bin/ls", "/USR/lib/x"])
    }

    func testEndWith() {
        check("Image", "end with", "\\cmd.exe", match: ["C:\\Windows\\System32\\CMD.exe"], noMatch: ["cmd.exe", "C:\\cmd.exe.bak"])
    }

    func testNotEndWith() {
        check("CommandLine", "not end with", ".log", match: ["tail /var/log/x.txt", "log"], noMatch: ["tail /var/log/syslog.LOG"])
    }

    /// Sysmon compares text, not numbers: "100" is less than "99".
    func testLessThanIsLexicographic() {
        check("ProcessId", "less than", "50", match: ["100", "49", "4"], noMatch: ["50", "51", "6", "500"])
    }

    func testMoreThan() {
        check("ProcessId", "more than", "50", match: ["6", "500", "51"], noMatch: ["50", "100", "4"])
    }

    /// `image` compares the file name when the filter names none; `bash`
    /// matches `/usr/bin/bash` on Linux and `cmd.exe` a Windows path.
    func testImageMatchesTheFileName() {
        check("Image", "image", "bash", match: ["/usr/bin/bash", "/bin/BASH", "bash"], noMatch: ["/usr/bin/bash5", "/usr/bin/rbash", "bash/x"])
        check("ParentImage", "image", "cmd.exe", match: ["C:\\Windows\\System32\\cmd.exe", "CMD.EXE"], noMatch: ["C:\\cmd.exe\\x.exe"])
    }

    func testImageWithADirectoryComparesTheWholePath() {
        check("Image", "image", "/usr/bin/bash", match: ["/usr/bin/bash", "/USR/BIN/BASH"], noMatch: ["/bin/bash", "bash"])
    }

    /// An empty last item of a `;` list is the empty string, found in every
    /// non-empty value (Sysmon's `NextItem`/`FindSubString`).
    func testTrailingSemicolonMatchesAnyNonEmptyValue() {
        check("CommandLine", "contains any", "curl;", match: ["ls", "curl"], noMatch: [""])
    }

    func testCaseFoldingBeyondASCII() {
        check("CommandLine", "contains", "ÄPFEL", match: ["cat /tmp/äpfel.txt", "ÄPFEL"], noMatch: ["apfel"])
        check("Image", "end with", "/ΣΊΣΥΦΟΣ", match: ["/opt/σίσυφοσ", "/OPT/ΣΊΣΥΦΟΣ"], noMatch: ["/opt/sisyphos"])
    }

    func testConditionNamesAreCaseInsensitive() {
        check("Image", "End With", "/sh", match: ["/bin/sh"], noMatch: ["/bin/bash"])
    }

    func testEmptyValues() {
        check("CommandLine", "is", "", match: [""], noMatch: ["x"])
        check("CommandLine", "begin with", "", match: ["", "x"], noMatch: [])
        check("CommandLine", "contains", "", match: ["x"], noMatch: [""])
    }
}
