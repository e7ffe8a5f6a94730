import XCTest
@testable import SwiftmonLinux

final class PlaceholderLinuxTests: XCTestCase {
    func testTargetLinks() {}
}
