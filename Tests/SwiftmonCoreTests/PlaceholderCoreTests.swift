import XCTest
@testable import SwiftmonCore

final class PlaceholderCoreTests: XCTestCase {
    func testTargetLinks() {}
}
