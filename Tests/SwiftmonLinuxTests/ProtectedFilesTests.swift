import CSwiftmonRecords
import Foundation
import XCTest
@testable import SwiftmonLinux

/// What swiftmon protects and puts in the kernel's map, and what a change
/// record means, on real files in a test folder (no kernel: the map is the
/// dictionary `install` receives; the live test covers the kernel side).
final class ProtectedFilesTests: XCTestCase {
    private var dir: URL!
    private var installed: [ProtectedFiles.Identity: UInt32] = [:]

    override func setUpWithError() throws {
        dir = try makeTestDirectory("protected-files")
    }

    override func tearDownWithError() throws {
        try FileManager.default.removeItem(at: dir)
    }

    private func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    private func write(_ name: String, _ text: String = "x") throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path(name)))
    }

    private func protectedFiles() throws -> ProtectedFiles {
        try FileManager.default.createDirectory(atPath: path("units"), withIntermediateDirectories: true)
        try write("config.xml")
        try write("swiftmon")
        return ProtectedFiles(configuration: path("config.xml"), binary: path("swiftmon"),
                              unitDirectories: [path("units"), path("no-such-unit-folder")]) { self.installed = $0 }
    }

    private func identity(_ name: String) throws -> ProtectedFiles.Identity {
        try XCTUnwrap(ProtectedFiles.identity(of: path(name)), name)
    }

    func testTheFilesAndTheFoldersOfMissingNamesAreInTheMap() throws {
        let files = try protectedFiles()
        files.scan()
        XCTAssertEqual(installed[try identity("config.xml")], SM_PROTECTED_FILE.rawValue)
        XCTAssertEqual(installed[try identity("swiftmon")], SM_PROTECTED_FILE.rawValue)
        // No unit and no drop-in folder: the unit folder is watched for them.
        XCTAssertEqual(installed[try identity("units")], SM_PROTECTED_DIRECTORY.rawValue)
        XCTAssertEqual(installed.count, 3, "a unit folder that does not exist adds nothing")
        XCTAssertEqual(files.paths().map(\.path), [path("config.xml"), path("units/swiftmon.service"),
                                                    path("units/swiftmon.service.d"), path("swiftmon")])
    }

    func testReplacedRemovedModifiedAndCreated() throws {
        let files = try protectedFiles()
        files.scan()
        let original = try identity("config.xml")

        // Written in place: modified, whatever the path names when the record is read.
        XCTAssertEqual(files.changes(device: original.device, inode: original.inode, role: SM_PROTECTED_FILE.rawValue,
                                     renamesOrRemoves: false),
                       [.init(path: path("config.xml"), role: .configuration, outcome: "modified")])

        // Another file renamed over it: replaced, and the new file is watched, the old one not.
        try write("staged.xml")
        XCTAssertEqual(rename(path("staged.xml"), path("config.xml")), 0)
        XCTAssertEqual(files.changes(device: original.device, inode: original.inode, role: SM_PROTECTED_FILE.rawValue,
                                     renamesOrRemoves: true),
                       [.init(path: path("config.xml"), role: .configuration, outcome: "replaced")])
        let replacement = try identity("config.xml")
        XCTAssertNotEqual(replacement, original)
        XCTAssertEqual(installed[replacement], SM_PROTECTED_FILE.rawValue)
        XCTAssertNil(installed[original])

        // Removed: its folder is watched now, and a new file there is created.
        XCTAssertEqual(unlink(path("config.xml")), 0)
        XCTAssertEqual(files.changes(device: replacement.device, inode: replacement.inode, role: SM_PROTECTED_FILE.rawValue,
                                     renamesOrRemoves: true),
                       [.init(path: path("config.xml"), role: .configuration, outcome: "removed")])
        let folder = try XCTUnwrap(ProtectedFiles.identity(of: dir.path))
        XCTAssertEqual(installed[folder], SM_PROTECTED_DIRECTORY.rawValue)
        try write("config.xml")
        XCTAssertEqual(files.changes(device: folder.device, inode: folder.inode, role: SM_PROTECTED_DIRECTORY.rawValue,
                                     renamesOrRemoves: false),
                       [.init(path: path("config.xml"), role: .configuration, outcome: "created")])
        XCTAssertNil(installed[folder], "the name is there again: the folder is no longer watched")

        // A record of a file that was never protected means nothing.
        XCTAssertEqual(files.changes(device: folder.device, inode: 1, role: SM_PROTECTED_FILE.rawValue, renamesOrRemoves: true), [])
    }

    func testADropInAppearsInTheUnitFolder() throws {
        let files = try protectedFiles()
        files.scan()
        let units = try identity("units")
        try FileManager.default.createDirectory(atPath: path("units/swiftmon.service.d"), withIntermediateDirectories: false)
        XCTAssertEqual(files.changes(device: units.device, inode: units.inode, role: SM_PROTECTED_DIRECTORY.rawValue,
                                     renamesOrRemoves: false),
                       [.init(path: path("units/swiftmon.service.d"), role: .unit, outcome: "created")])
        let dropIns = try identity("units/swiftmon.service.d")
        XCTAssertEqual(installed[dropIns], SM_PROTECTED_DIRECTORY.rawValue, "new names in the drop-in folder matter")
        try write("units/swiftmon.service.d/override.conf", "[Service]\nExecStart=\n")
        try write("units/swiftmon.service.d/notes.txt")
        XCTAssertEqual(files.changes(device: dropIns.device, inode: dropIns.inode, role: SM_PROTECTED_DIRECTORY.rawValue,
                                     renamesOrRemoves: false),
                       [.init(path: path("units/swiftmon.service.d/override.conf"), role: .unit, outcome: "created")],
                       "only *.conf files configure a unit")
        XCTAssertEqual(installed[try identity("units/swiftmon.service.d/override.conf")], SM_PROTECTED_FILE.rawValue)
    }

    func testOperationsByArchitectureSyscallNumbers() {
        XCTAssertEqual(TamperEventBuilder.fileOperation(syscall: SM_NR_renameat2, onFolder: false).operation, "rename")
        XCTAssertEqual(TamperEventBuilder.fileOperation(syscall: SM_NR_unlinkat, onFolder: false).operation, "unlink")
        XCTAssertEqual(TamperEventBuilder.fileOperation(syscall: SM_NR_openat, onFolder: false).operation, "truncate")
        XCTAssertEqual(TamperEventBuilder.fileOperation(syscall: SM_NR_openat, onFolder: true).operation, "create")
        XCTAssertEqual(TamperEventBuilder.fileOperation(syscall: SM_NR_openat, onFolder: true).syscall, "openat")
        XCTAssertEqual(TamperEventBuilder.fileOperation(syscall: -1, onFolder: false).syscall, "-")
        XCTAssertEqual(TamperEventBuilder.fileOperation(syscall: -1, onFolder: false).operation, "modify")
    }
}
