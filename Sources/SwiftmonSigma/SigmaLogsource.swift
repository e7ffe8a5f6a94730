import SwiftmonCore

/// Which swiftmon events a Sigma logsource stands for. The sensor on Linux serves
/// `product: linux`; the .etl decoder serves `product: windows` for the kinds it
/// decodes. Anything else (auditd, syslog, registry …) is reported, not guessed.
public enum SigmaLogsourceMap {
    public static let linux: [(category: String, kind: EventKind)] = [
        ("process_creation", .processCreate),
        ("network_connection", .networkConnect),
        ("file_event", .fileCreate),
        ("file_delete", .fileDelete),
        ("image_load", .imageLoad),
        ("driver_load", .driverLoad),
        ("process_access", .processAccess),
        ("raw_access_thread", .rawAccessRead),
        ("process_termination", .processTerminate),
        ("file_rename", .fileRename),
    ]

    /// The kinds SwiftmonETL's decoders produce from a Windows trace.
    public static let windows: [(category: String, kind: EventKind)] = [
        ("process_creation", .processCreate),
        ("process_termination", .processTerminate),
        ("network_connection", .networkConnect),
        ("file_event", .fileCreate),
        ("file_delete", .fileDelete),
        ("file_rename", .fileRename),
        ("image_load", .imageLoad),
        ("driver_load", .driverLoad),
    ]

    public enum Resolution: Sendable {
        case kind(EventKind)
        /// Understood but served by a source this run does not have (a Windows rule on the live Linux sensor).
        case otherProduct(String)
        case unsupported(String)
    }

    /// The event kind for `logsource` when the run serves `products`.
    public static func resolve(_ logsource: SigmaDocument.Logsource, products: Set<String>) -> Resolution {
        guard let product = logsource.product else {
            return .unsupported("logsource has no product (swiftmon serves product linux and product windows)")
        }
        let table: [(category: String, kind: EventKind)]
        switch product {
        case "linux": table = linux
        case "windows": table = windows
        default: return .unsupported("logsource product \(product) is not served (only linux and windows)")
        }
        if let service = logsource.service {
            return .unsupported("logsource service \(service) is not served: swiftmon has no \(service) events")
        }
        guard let category = logsource.category else {
            return .unsupported("logsource product \(product) without a category is not served")
        }
        guard let kind = table.first(where: { $0.category == category })?.kind else {
            return .unsupported("logsource category \(category) (product \(product)) is not served; served: "
                                + table.map(\.category).joined(separator: ", "))
        }
        guard products.contains(product) else { return .otherProduct(product) }
        return .kind(kind)
    }
}
