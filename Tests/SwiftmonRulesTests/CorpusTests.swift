import Foundation
import XCTest
import SwiftmonCore
@testable import SwiftmonRules

/// The real configurations of the shared corpus load without errors (warnings
/// only for Windows-only items) and dump to the committed golden files.
final class CorpusTests: XCTestCase {
    static let files = [
        "sysmon-modular-sysmonconfig.xml", "swiftonsecurity-sysmonconfig-export.xml",
        "mstic-linux-main.xml", "mstic-linux-collect-all.xml",
    ]

    func testCorpusConfigurationsLoadWithOnlyWindowsWarnings() throws {
        let dir = try corpusDirectory().appendingPathComponent("sysmon-configs")
        for name in Self.files {
            let path = dir.appendingPathComponent(name).path
            let (config, diagnostics) = try SysmonConfig.load(path: path)
            for d in diagnostics {
                XCTAssertEqual(d.severity, .warning, d.description)
                XCTAssertTrue(d.windowsOnly, d.description)
                XCTAssertTrue(d.description.hasPrefix(path + ":"), d.description)
            }
            XCTAssertFalse(config.blocks.isEmpty, name)
            if name.hasPrefix("mstic") { XCTAssertTrue(diagnostics.isEmpty, "\(name): \(diagnostics)") }
        }
    }

    func testSysmonModularDetails() throws {
        let path = try corpusDirectory().appendingPathComponent("sysmon-configs/sysmon-modular-sysmonconfig.xml").path
        let (config, diagnostics) = try SysmonConfig.load(path: path)
        XCTAssertEqual(config.schemaVersion.description, "4.90")
        XCTAssertEqual(config.bytes.prefix(3), [0xEF, 0xBB, 0xBF], "starts with a BOM, kept byte for byte")
        XCTAssertEqual(RuleSet(config).hashAlgorithms, ["*"])
        XCTAssertEqual(config.blocks.count, 34)
        XCTAssertTrue(diagnostics.contains { $0.message.contains("<RegistryEvent> is a Windows-only event") })
        let filters = config.blocks.reduce(0) { $0 + $1.filterCount }
        XCTAssertGreaterThan(filters, 1500)
    }

    func testDumpsMatchGoldenFiles() throws {
        let dir = try corpusDirectory().appendingPathComponent("sysmon-configs")
        let golden = repositoryRoot.appendingPathComponent("Tests/SwiftmonRulesTests/Golden")
        let update = ProcessInfo.processInfo.environment["SWIFTMON_UPDATE_GOLDEN"] == "1"
        for name in Self.files {
            // Parsed under its bare name, so the dump's "Config file" line is the same on every machine.
            let bytes = try [UInt8](Data(contentsOf: dir.appendingPathComponent(name)))
            let (config, _) = try SysmonConfig.parse(bytes: bytes, path: name)
            let dump = RuleDump.text(config)
            XCTAssertEqual(dump, RuleDump.text(config), "stable")
            let file = golden.appendingPathComponent(name.replacingOccurrences(of: ".xml", with: ".dump"))
            if update {
                try dump.write(to: file, atomically: true, encoding: .utf8)
                continue
            }
            let expected = try String(contentsOf: file, encoding: .utf8)
            if dump != expected {
                let a = dump.split(separator: "\n", omittingEmptySubsequences: false)
                let b = expected.split(separator: "\n", omittingEmptySubsequences: false)
                let i = (0..<min(a.count, b.count)).first { a[$0] != b[$0] } ?? min(a.count, b.count)
                XCTFail("\(name) dump differs from \(file.lastPathComponent) at line \(i + 1):\n got: \(i < a.count ? String(a[i]) : "<end>")\nwant: \(i < b.count ? String(b[i]) : "<end>")\n(SWIFTMON_UPDATE_GOLDEN=1 rewrites the golden files)")
            }
        }
    }

    /// The layout pieces, checked on a small configuration, against Sysmon's
    /// format strings.
    func testDumpLayout() throws {
        let c = try XCTUnwrap(config(filtering("""
            <RuleGroup name="" groupRelation="or"><ProcessCreate onmatch="include">
              <Image condition="end with">/bash</Image>
              <Rule name="a compound rule whose name is longer than thirty-two" groupRelation="and"><User>root</User></Rule>
              <Rule groupRelation="or"><CommandLine condition="contains any">a;b</CommandLine></Rule>
            </ProcessCreate></RuleGroup>
            <RuleGroup name="" groupRelation="and"><NetworkConnect onmatch="exclude"><DestinationPort>53</DestinationPort></NetworkConnect></RuleGroup>
            """)))
        XCTAssertEqual(RuleDump.text(c, configHash: "SHA256=AB"), """
            Current configuration:
             - Service name:                  swiftmon
             - Driver name:                   -
             - Config file:                   test.xml
             - Config hash:                   SHA256=AB

             - HashingAlgorithms:             -
             - Network connection:            enabled
             - Archive Directory:             -
             - Image loading:                 disabled
             - CRL checking:                  disabled
             - DNS lookup:                    disabled

            Rule configuration (version 4.90):
             - ProcessCreate                      onmatch: include   combine rules using 'Or'
            \tImage                          filter: end with     value: '/bash'
            \tCompound Rule a compound rule whose name is lo   combine using And
            \t    User                           filter: is           value: 'root'
            \tCompound Rule 0002   combine using Or
            \t    CommandLine                    filter: contains any value: 'a;b'
             - NetworkConnect                     onmatch: exclude   combine rules using 'And'

            """ + "\tDestinationPort                filter: is           value: '53'\n")
    }

    /// The settings part: Sysmon's labels, `CONFIG_FMT` "%-34s" over
    /// " - label:", and swiftmon's values for this configuration.
    func testDumpSettings() throws {
        let c = try XCTUnwrap(config("""
            <Sysmon schemaversion="4.90">
              <HashAlgorithms>imphash,sha256,MD5,sha256</HashAlgorithms>
              <FieldSizes>CommandLine:100</FieldSizes>
              <DnsLookup>true</DnsLookup>
              <EventFiltering>
                <NetworkConnect onmatch="include"/>
                <ImageLoad onmatch="exclude"/>
              </EventFiltering>
            </Sysmon>
            """))
        let lines = RuleDump.text(c).split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertEqual(Array(lines.prefix(14)), [
            "Current configuration:",
            " - Service name:                  swiftmon",
            " - Driver name:                   -",
            " - Config file:                   test.xml",
            " - Field Sizes:                   CommandLine:100",
            "",
            " - HashingAlgorithms:             SHA256,MD5",
            " - Network connection:            disabled",
            " - Archive Directory:             -",
            " - Image loading:                 enabled",
            " - CRL checking:                  disabled",
            " - DNS lookup:                    disabled",
            "",
            "Rule configuration (version 4.90):",
        ])
        for line in lines.prefix(12) where !line.isEmpty && line.hasPrefix(" - ") {
            let chars = Array(line)
            XCTAssertEqual(chars[33], " ", "label padded to 34 columns: \(line)")
            XCTAssertNotEqual(chars[34], " ", "value from column 35: \(line)")
        }
        let empty = try XCTUnwrap(config("<Sysmon schemaversion=\"4.90\"><HashAlgorithms>*</HashAlgorithms></Sysmon>"))
        XCTAssertTrue(RuleDump.text(empty).hasSuffix("""
             - HashingAlgorithms:             MD5,SHA1,SHA256,SHA384,SHA512
             - Network connection:            disabled
             - Archive Directory:             -
             - Image loading:                 disabled
             - CRL checking:                  disabled
             - DNS lookup:                    disabled

            No rules installed

            """), RuleDump.text(empty))
    }

    /// Sysmon numbers the first compound rule of sysmon-modular's RegistryEvent
    /// include block 0159, not 0151: that block names `Details` (event 13 only)
    /// first inside its eighth `<Rule>`, so Sysmon's try as event 12 takes eight
    /// numbers before it fails.
    func testSysmonModularRegistryCompoundRuleNumber() throws {
        let path = try corpusDirectory().appendingPathComponent("sysmon-configs/sysmon-modular-sysmonconfig.xml").path
        let (config, _) = try SysmonConfig.load(path: path)
        let registry = try XCTUnwrap(config.blocks.first { $0.tag == "RegistryEvent" && $0.onMatch == .include })
        let ids = registry.items.compactMap { item -> Int? in
            if case .compound(let c) = item { return c.aggregationID } else { return nil }
        }
        XCTAssertEqual(ids.first, 159)
        XCTAssertEqual(Array(ids.prefix(3)), [159, 160, 161], "one-up after the failed try")
        let dump = RuleDump.text(config)
        let block = try XCTUnwrap(dump.range(of: " - RegistryEvent                      onmatch: include"))
        let firstCompound = try XCTUnwrap(dump.range(of: "\tCompound Rule ", range: block.upperBound..<dump.endIndex))
        XCTAssertTrue(dump[firstCompound.upperBound...].hasPrefix("0159   combine using And\n"))
    }

    func testEmbeddedDefaultConfiguration() throws {
        let (config, diagnostics) = SysmonConfig.check(bytes: Array(DefaultConfiguration.xml.utf8), path: "default")
        XCTAssertEqual(diagnostics, [], "the embedded default has no diagnostics at all")
        let set = try RuleSet(XCTUnwrap(config))
        XCTAssertTrue(decide(set, event(["Image": "/usr/bin/ls"])).0)
        XCTAssertTrue(decide(set, event(.processTerminate, ["Image": "/usr/bin/ls"])).0)
        XCTAssertEqual(decide(set, event(.fileCreate, ["TargetFilename": "/etc/cron.d/evil"])).1, "system configuration")
        XCTAssertEqual(decide(set, event(.fileCreate, ["TargetFilename": "/home/bob/.ssh/authorized_keys"])).1, "ssh keys")
        XCTAssertFalse(decide(set, event(.fileCreate, ["TargetFilename": "/home/bob/notes.txt"])).0)
        XCTAssertEqual(decide(set, event(.fileDelete, ["TargetFilename": "/var/log/auth.log"])).1, "logs")
        XCTAssertTrue(decide(set, event(.networkConnect, ["SourceIp": "10.0.0.2", "DestinationIp": "1.1.1.1"])).0)
        XCTAssertFalse(decide(set, event(.networkConnect, ["SourceIp": "127.0.0.1", "DestinationIp": "127.0.0.1"])).0)
        for kind in [EventKind.driverLoad, .rawAccessRead, .processAccess, .bpfEvent, .serviceInstall,
                     .threadCreate, .threadTerminate] {
            XCTAssertTrue(decide(set, event(kind, [:])).0, "\(kind)")
        }
        for kind in [EventKind.imageLoad] {
            XCTAssertFalse(decide(set, event(kind, [:])).0, "\(kind)")
            XCTAssertFalse(set.mayLog(kind), "\(kind)")
        }
        XCTAssertEqual(RuleSet.embeddedDefault.hashAlgorithms, [], "hashing only when asked")
    }
}
