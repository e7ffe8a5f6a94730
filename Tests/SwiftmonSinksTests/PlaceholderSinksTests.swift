import XCTest
@testable import SwiftmonSinks

final class PlaceholderSinksTests: XCTestCase {
    func testTargetLinks() {}
}
