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
        // Linux syscall declarations Swift's Glibc module lacks (epoll, signalfd, timerfd).
        .target(name: "CLinuxSyscalls"),
        // The one header that defines the records crossing from BPF to Swift.
        .target(name: "CSwiftmonRecords"),
        // Event model, schema, rendering, process cache, pipeline: pure Swift.
        .target(name: "SwiftmonCore"),
        // Sysmon configuration XML → compiled rule set; diagnostics with file:line:column.
        .target(name: "SwiftmonRules", dependencies: ["SwiftmonCore"]),
        // Windows ETW .etl files → records → swiftmon events. Pure Swift.
        .target(name: "SwiftmonETL", dependencies: ["SwiftmonCore"]),
        // Consumers of finished events: console text, JSON lines.
        .target(name: "SwiftmonSinks", dependencies: ["SwiftmonCore"]),
        // The embedded event store (SQLite through GRDB): the only target that sees GRDB.
        .target(
            name: "SwiftmonStore",
            dependencies: [
                "SwiftmonCore",
                .product(name: "GRDB", package: "GRDB.swift"),
                // SQLite's C API, for binding the insert statement without per-value boxing.
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ]
        ),
        // The Linux sources: the only Swift code that imports the C targets.
        .target(
            name: "SwiftmonLinux",
            dependencies: [
                "SwiftmonCore", "CLibbpf", "CSensorSkeleton", "CSwiftmonRecords", "CLinuxSyscalls",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            exclude: ["bpf"]
        ),
        .executableTarget(
            name: "swiftmon",
            dependencies: [
                "SwiftmonCore", "SwiftmonSinks", "SwiftmonLinux", "SwiftmonRules", "SwiftmonETL",
                "SwiftmonStore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // Real processes for the end-to-end tests (threads, exec storms, hostile argv).
        .executableTarget(name: "swiftmon-testhelper", path: "Tests/SwiftmonTestHelper"),
        // libFuzzer target for the .etl decoder; built by scripts/fuzz-etl.sh.
        .executableTarget(name: "swiftmon-etl-fuzz", dependencies: ["SwiftmonETL", "SwiftmonCore"]),
        .testTarget(name: "SwiftmonCoreTests", dependencies: ["SwiftmonCore"]),
        // Golden dumps are read relative to #filePath, not bundled.
        .testTarget(name: "SwiftmonRulesTests", dependencies: ["SwiftmonRules", "SwiftmonCore"], exclude: ["Golden"]),
        .testTarget(name: "SwiftmonETLTests", dependencies: ["SwiftmonETL", "SwiftmonCore"]),
        .testTarget(
            name: "SwiftmonSinksTests",
            dependencies: ["SwiftmonSinks", "SwiftmonCore"],
            exclude: ["Golden"]  // read from the source tree by path, so SWIFTMON_UPDATE_GOLDEN=1 can rewrite them
        ),
        .testTarget(name: "SwiftmonStoreTests", dependencies: ["SwiftmonStore", "SwiftmonCore"]),
        .testTarget(
            name: "SwiftmonLinuxTests",
            dependencies: ["SwiftmonLinux", "SwiftmonCore", "CSwiftmonRecords"]
        ),
    ],
    swiftLanguageModes: [.v5]
)
