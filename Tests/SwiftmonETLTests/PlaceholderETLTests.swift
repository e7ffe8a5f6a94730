import XCTest
@testable import SwiftmonETL

final class PlaceholderETLTests: XCTestCase {
    func testTargetLinks() {}
}
