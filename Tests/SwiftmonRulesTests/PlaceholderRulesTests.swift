import XCTest
@testable import SwiftmonRules

final class PlaceholderRulesTests: XCTestCase {
    func testTargetLinks() {}
}
