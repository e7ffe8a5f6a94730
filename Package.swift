// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "swiftmon",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "swiftmon", targets: ["swiftmon"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        // libbpf from Debian's libbpf-dev, seen through pkg-config.
        .systemLibrary(
            name: "CLibbpf",
            pkgConfig: "libbpf",
            providers: [.apt(["libbpf-dev"])]
        ),
        // swiftmon's BPF object as `bpftool gen skeleton` describes it (`make bpf`
        // generates the header); its bytes are compiled into the binary here.
        .target(name: "CSensorSkeleton", dependencies: ["CLibbpf"]),
        // Linux declarations Swift's Glibc module lacks (epoll, signalfd, timerfd,
        // fanotify, GNU extensions); imported by SwiftmonSystem only.
        .target(name: "CLinuxSyscalls"),
        // Every system call, wrapped once; the one errno funnel (SystemCallError).
        .target(name: "SwiftmonSystem", dependencies: ["CLinuxSyscalls"]),
        // The one header that defines the records crossing from BPF to Swift.
        .target(name: "CSwiftmonRecords"),
        // Event model, schema, rendering, process cache, pipeline: pure Swift.
        .target(name: "SwiftmonCore"),
        // Sysmon configuration XML → compiled rule set; diagnostics with file:line:column.
        .target(
            name: "SwiftmonRules",
            dependencies: ["SwiftmonCore", "SwiftmonSystem", .product(name: "Crypto", package: "swift-crypto")]
        ),
        // Sigma rules (YAML through Yams) → compiled detections raising SigmaMatch (210) events.
        .target(
            name: "SwiftmonSigma",
            dependencies: ["SwiftmonCore", "SwiftmonSystem", "SwiftmonRules", .product(name: "Yams", package: "Yams")]
        ),
        // Windows ETW .etl files → records → swiftmon events. Pure Swift.
        .target(name: "SwiftmonETL", dependencies: ["SwiftmonCore", "SwiftmonSystem"]),
        // Windows event logs (.evtx): chunks, binary XML, templates → swiftmon events. Pure Swift.
        .target(name: "SwiftmonEvtx", dependencies: ["SwiftmonCore", "SwiftmonSystem", "CSwiftmonCRC32"]),
        // CRC-32 with carry-less multiplication (PCLMULQDQ): every chunk's
        // records are checked. Imported by SwiftmonEvtx only.
        .target(name: "CSwiftmonCRC32"),
        // TLS for syslog (RFC 5425) through the system's OpenSSL (libssl3, already on
        // every Debian host; dpkg-shlibdeps adds it to the .deb's Depends), instead of
        // compiling BoringSSL for swift-nio-ssl. Imported by SwiftmonSinks only.
        .target(
            name: "CSwiftmonTLS",
            linkerSettings: [.linkedLibrary("ssl"), .linkedLibrary("crypto")]
        ),
        // Consumers of finished events: console text, JSON lines.
        .target(name: "SwiftmonSinks", dependencies: ["SwiftmonCore", "SwiftmonSystem", "CSwiftmonTLS"]),
        // The embedded event store (SQLite through GRDB): the only target that sees GRDB.
        .target(
            name: "SwiftmonStore",
            dependencies: [
                "SwiftmonCore", "SwiftmonSystem",
                .product(name: "GRDB", package: "GRDB.swift"),
                // SQLite's C API, for binding the insert statement without per-value boxing.
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ]
        ),
        // `swiftmon import`: Sysmon event streams (collector files, XML, JSON lines, .evtx, .etl) into the store.
        .target(
            name: "SwiftmonImport",
            dependencies: ["SwiftmonCore", "SwiftmonSystem", "SwiftmonStore", "SwiftmonETL", "SwiftmonEvtx"]
        ),
        // Running as a service: the systemd unit, the install plan, the control socket.
        .target(name: "SwiftmonService", dependencies: ["SwiftmonCore", "SwiftmonSystem"]),
        // The Linux sources: the only Swift code that imports the C targets.
        .target(
            name: "SwiftmonLinux",
            dependencies: [
                "SwiftmonCore", "SwiftmonSystem", "SwiftmonService", "CLibbpf", "CSensorSkeleton", "CSwiftmonRecords",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            exclude: ["bpf"]
        ),
        .executableTarget(
            name: "swiftmon",
            dependencies: [
                "SwiftmonCore", "SwiftmonSystem", "SwiftmonSinks", "SwiftmonLinux", "SwiftmonRules", "SwiftmonETL",
                "SwiftmonStore", "SwiftmonEvtx", "SwiftmonSigma", "SwiftmonService", "SwiftmonImport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // Real processes for the end-to-end tests (threads, exec storms, hostile argv).
        .executableTarget(name: "swiftmon-testhelper", path: "Tests/SwiftmonTestHelper"),
        // libFuzzer target for the .etl decoder; built by scripts/fuzz.sh etl.
        .executableTarget(name: "swiftmon-etl-fuzz", dependencies: ["SwiftmonETL", "SwiftmonCore"]),
        // libFuzzer target for the .evtx reader; built by scripts/fuzz.sh evtx.
        .executableTarget(name: "swiftmon-evtx-fuzz", dependencies: ["SwiftmonEvtx", "SwiftmonCore"]),
        // For the tests: finding and running the built binaries, the CI=true rule.
        .target(name: "SwiftmonTestSupport", path: "Tests/SwiftmonTestSupport"),
        .testTarget(name: "SwiftmonTestSupportTests", dependencies: ["SwiftmonTestSupport"]),
        .testTarget(name: "SwiftmonCoreTests", dependencies: ["SwiftmonCore"]),
        .testTarget(name: "SwiftmonSystemTests", dependencies: ["SwiftmonSystem"]),
        .testTarget(
            name: "SwiftmonServiceTests",
            dependencies: ["SwiftmonService", "SwiftmonCore", "SwiftmonSystem", "SwiftmonTestSupport"]),
        // Golden dumps are read relative to #filePath, not bundled.
        .testTarget(
            name: "SwiftmonRulesTests", dependencies: ["SwiftmonRules", "SwiftmonCore", "SwiftmonTestSupport"],
            exclude: ["Golden"]),
        .testTarget(name: "SwiftmonSigmaTests", dependencies: ["SwiftmonSigma", "SwiftmonCore", "SwiftmonTestSupport"]),
        .testTarget(name: "SwiftmonETLTests", dependencies: ["SwiftmonETL", "SwiftmonCore", "SwiftmonTestSupport"]),
        .testTarget(name: "SwiftmonEvtxTests", dependencies: ["SwiftmonEvtx", "SwiftmonCore", "SwiftmonTestSupport"]),
        .testTarget(
            name: "SwiftmonSinksTests",
            dependencies: ["SwiftmonSinks", "SwiftmonCore", "SwiftmonTestSupport"],
            exclude: ["Golden"]  // read from the source tree by path, so SWIFTMON_UPDATE_GOLDEN=1 can rewrite them
        ),
        .testTarget(
            name: "SwiftmonImportTests",
            // SwiftmonSinks: the parser's differential test reads lines as swiftmon's own sinks write them.
            dependencies: ["SwiftmonImport", "SwiftmonStore", "SwiftmonCore", "SwiftmonSinks", "SwiftmonTestSupport"],
            exclude: ["Fixtures"]),
        .testTarget(name: "SwiftmonStoreTests", dependencies: ["SwiftmonStore", "SwiftmonCore", "SwiftmonTestSupport"]),
        .testTarget(
            name: "SwiftmonLinuxTests",
            // SwiftmonSinks: the builder golden files are the real JSON lines renderer's output.
            dependencies: ["SwiftmonLinux", "SwiftmonCore", "CSwiftmonRecords", "SwiftmonSinks",
                           "SwiftmonTestSupport"],
            exclude: ["Golden"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
