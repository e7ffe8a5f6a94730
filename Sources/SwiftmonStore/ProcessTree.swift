import Foundation
import GRDB
import SwiftmonCore

/// One process as the store knows it.
public struct ProcessNode: Sendable, Equatable {
    public var guid: String
    public var processID: Int?
    public var image: String
    public var commandLine: String
    public var user: String
    public var parentGuid: String?
    /// When it started (its ProcessCreate), if that was recorded.
    public var started: EventTime?
    /// When it ended (its ProcessTerminate), if that was recorded.
    public var ended: EventTime?
    /// False when the store has no ProcessCreate for it and the node was
    /// pieced together from its child's Parent* fields or its other events.
    public var recorded: Bool
    public var children: [ProcessNode] = []
    /// Its ContainerId (`-` on the host), nil when the store does not say.
    public var containerID: String? = nil
    public var containerRuntime: String? = nil
    public var podUID: String? = nil
    public var pidNamespace: String? = nil
    /// Its pid inside its pid namespace, where that differs.
    public var containerProcessID: String? = nil
}

/// The ancestors and descendants of one process.
public struct ProcessTree: Sendable {
    /// Oldest first, ending with the process's parent.
    public var ancestors: [ProcessNode]
    /// The process asked about, with its descendants in ``ProcessNode/children``.
    public var process: ProcessNode
    /// True when the descendants were cut at the node limit.
    public var truncated: Bool

    public var descendantCount: Int {
        func count(_ n: ProcessNode) -> Int { n.children.reduce(0) { $0 + 1 + count($1) } }
        return count(process)
    }

    /// A drawing of the tree: one line per process (pid, image, times, GUID),
    /// its command line beneath; the process asked about is marked `▶`.
    public func rendered() -> String {
        var out = ""
        var depth = 0
        var above: ProcessNode?
        for ancestor in ancestors {
            draw(ancestor, parent: above, prefix: String(repeating: "   ", count: max(0, depth - 1)),
                 connector: depth == 0 ? "" : "└─ ", marked: false, into: &out,
                 continuation: String(repeating: "   ", count: depth))
            above = ancestor
            depth += 1
        }
        func walk(_ node: ProcessNode, parent: ProcessNode?, prefix: String, connector: String, childPrefix: String,
                  marked: Bool) {
            draw(node, parent: parent, prefix: prefix, connector: connector, marked: marked, into: &out,
                 continuation: childPrefix)
            for (i, child) in node.children.enumerated() {
                let last = i == node.children.count - 1
                walk(child, parent: node, prefix: childPrefix, connector: last ? "└─ " : "├─ ",
                     childPrefix: childPrefix + (last ? "   " : "│  "), marked: false)
            }
        }
        let indent = String(repeating: "   ", count: max(0, depth - 1))
        if depth == 0 {
            walk(process, parent: nil, prefix: "", connector: "", childPrefix: "", marked: true)
        } else {
            walk(process, parent: above, prefix: indent, connector: "└─ ", childPrefix: indent + "   ", marked: true)
        }
        if truncated { out += "… more descendants not shown (node limit reached)\n" }
        return out
    }

    /// Where the tree crosses from `parent` into another container (or back
    /// to the host), or into another pid namespace: a mark for the line, or nil.
    static func crossing(from parent: ProcessNode?, to node: ProcessNode) -> String? {
        guard let parent, let id = node.containerID, let parentID = parent.containerID else { return nil }
        if id != parentID {
            guard id != Event.absent else { return "⇦ leaves container to the host" }
            var mark = "⇨ container \(node.containerRuntime ?? "?") \(id.count == 64 ? String(id.prefix(12)) : id)"
            if let pod = node.podUID, pod != Event.absent { mark += " pod \(pod)" }
            if let pid = node.containerProcessID, pid != Event.absent { mark += ", pid \(pid) inside" }
            return mark
        }
        if let ns = node.pidNamespace, let parentNS = parent.pidNamespace, ns != parentNS,
           ns != Event.absent, parentNS != Event.absent {
            var mark = "⇨ pid namespace \(ns)"
            if let pid = node.containerProcessID, pid != Event.absent { mark += ", pid \(pid) inside" }
            return mark
        }
        return nil
    }

    private func draw(_ node: ProcessNode, parent: ProcessNode?, prefix: String, connector: String, marked: Bool,
                      into out: inout String, continuation: String? = nil) {
        var line = prefix + connector + (marked ? "▶ " : "")
        line += node.processID.map { "\($0)" } ?? "?"
        line += " " + (node.image.isEmpty ? "-" : node.image)
        if !node.user.isEmpty, node.user != Event.absent { line += " (\(node.user))" }
        line += "  " + (node.started.map { $0.sysmonText } ?? "?")
        line += " → " + (node.ended.map { $0.sysmonText } ?? (node.recorded ? "running" : "?"))
        line += "  " + node.guid
        if !node.recorded { line += "  [not recorded]" }
        if let mark = ProcessTree.crossing(from: parent, to: node) { line += "  " + mark }
        out += ProcessTree.visible(line) + "\n"
        let below = continuation ?? (prefix + String(repeating: " ", count: connector.count))
        if !node.commandLine.isEmpty, node.commandLine != Event.absent {
            out += below + "    " + ProcessTree.visible(node.commandLine) + "\n"
        }
    }

    /// Terminal-safe: control characters shown as `\n`, `\t`, `\xNN`.
    static func visible(_ text: String) -> String {
        var out = ""
        for s in text.unicodeScalars {
            switch s {
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            case _ where s.value < 0x20 || (0x7F...0x9F).contains(s.value):
                out += "\\x" + (s.value < 16 ? "0" : "") + String(s.value, radix: 16)
            default: out.unicodeScalars.append(s)
            }
        }
        return out
    }
}

/// Which process a tree is drawn around.
public enum ProcessSelector: Sendable, Equatable {
    case guid(String)
    /// The most recent process with this id.
    case processID(Int)

    /// A GUID (with or without braces) or a decimal pid.
    public init(parsing text: String) {
        if let pid = Int(text), pid >= 0 { self = .processID(pid) } else { self = .guid(StoreReader.normalizedGuid(text)) }
    }
}

extension StoreReader {
    /// The ancestors and descendants of the selected process, at most
    /// `maxNodes` descendants (the store may hold forks bombs).
    ///
    /// A store that imported several hosts' events holds several machines'
    /// processes: `host` (ASCII case ignored) picks the process among that
    /// host's events. Either way the tree is drawn from the events of the
    /// host the process was found on (a sensor's own rows, which name no
    /// host, form one host of their own), so two machines' processes never mix.
    public func processTree(of selector: ProcessSelector, host: String? = nil, maxNodes: Int = 10_000) throws -> ProcessTree {
        var scope = HostScope()
        if let host {
            guard schemaVersion >= 3 else {
                throw StoreError.sqlite(path: path, operation: "tree by host",
                                        message: "this store was written before hosts were recorded (schema version \(schemaVersion))")
            }
            scope = HostScope(clause: " AND host = ? COLLATE NOCASE", arguments: [host])
        }
        return try read { db in
            guard var target = try StoreReader.findProcess(db, selector, scope, schemaVersion: schemaVersion) else {
                let on = host.map { " of host \($0)" } ?? ""
                switch selector {
                case .guid(let g): throw StoreError.notFound("no process with GUID \(g)\(on) in \(path)")
                case .processID(let p): throw StoreError.notFound("no process with pid \(p)\(on) in \(path)")
                }
            }
            if host == nil, schemaVersion >= 3 {
                scope = HostScope(clause: " AND host IS ? COLLATE NOCASE", arguments: [target.host])
            }
            // Ancestors, following ParentProcessGuid while ProcessCreate events exist.
            var ancestors: [ProcessNode] = []
            var seen: Set<String> = [target.node.guid.lowercased()]
            var child = target
            while let parentGuid = child.node.parentGuid, !seen.contains(parentGuid.lowercased()), ancestors.count < 512 {
                seen.insert(parentGuid.lowercased())
                if let parent = try StoreReader.processCreate(db, guid: parentGuid, scope) {
                    ancestors.append(parent.node)
                    child = parent
                } else {
                    ancestors.append(child.parentStub)
                    break
                }
            }
            ancestors.reverse()

            // Descendants, breadth first over the parent GUID index, so a node
            // limit cuts the deepest levels rather than all but one branch.
            var budget = maxNodes
            var truncated = false
            var found: [String: ProcessNode] = [:]
            var childrenOf: [String: [String]] = [:]
            var level = [target.node.guid]
            var depth = 0
            let childrenSQL = StoreReader.childrenSQL(
                indexed: try db.indexes(on: "event").contains { $0.name == "event_by_parent_process_guid" }, scope: scope,
                keyedByTime: schemaVersion >= 4)
            search: while !level.isEmpty {
                guard depth < 512 else { truncated = true; break }
                var next: [String] = []
                for parent in level {
                    let rows = try Row.fetchAll(db, sql: childrenSQL, arguments: scope.with(IndexedColumns.guidKey(parent)))
                    for row in rows {
                        let child = try StoreReader.processFound(db, from: try StoreReader.event(from: row), scope: scope).node
                        let key = child.guid.lowercased()
                        guard !seen.contains(key) else { continue }
                        guard budget > 0 else { truncated = true; break search }
                        budget -= 1
                        seen.insert(key)
                        found[key] = child
                        childrenOf[parent.lowercased(), default: []].append(key)
                        next.append(child.guid)
                    }
                }
                level = next
                depth += 1
            }
            func assemble(_ node: ProcessNode) -> ProcessNode {
                var node = node
                node.children = (childrenOf[node.guid.lowercased()] ?? []).compactMap { found[$0] }.map(assemble)
                return node
            }
            target.node = assemble(target.node)
            return ProcessTree(ancestors: ancestors, process: target.node, truncated: truncated)
        }
    }

    /// The ProcessCreates whose parent is a given GUID, through the parent
    /// GUID index where the store has it (an interrupted import's store has
    /// not yet: see ``ImportStore``; then it scans, and `INDEXED BY` would fail).
    /// In time order: where rows are keyed by time (version 4), the index's
    /// own order (no sort per parent).
    static func childrenSQL(indexed: Bool, scope: HostScope, keyedByTime: Bool = true) -> String {
        """
        SELECT event_id, time, fields, raw FROM event\(indexed ? " INDEXED BY event_by_parent_process_guid" : "")
        WHERE parent_process_guid = ? AND event_id = 1\(scope.clause) ORDER BY \(keyedByTime ? "id" : "time, id")
        """
    }

    /// A process node plus what its ProcessCreate says about its parent.
    struct FoundProcess {
        var node: ProcessNode
        var parentStub: ProcessNode
        /// The host of the event it was found by (nil: a sensor's own row, or a store before hosts).
        var host: String? = nil
    }

    /// Which host's events a tree's lookups see: SQL added to each, and its arguments.
    struct HostScope {
        var clause = ""
        var arguments: [DatabaseValueConvertible?] = []
        func with(_ first: DatabaseValueConvertible?...) -> StatementArguments { StatementArguments(first + arguments) }
    }

    /// The columns a tree reads: an event, and its host where the store records hosts.
    static func columns(_ db: Database) throws -> String {
        try db.columns(in: "event").contains { $0.name == "host" } ? "event_id, time, fields, raw, host" : "event_id, time, fields, raw"
    }

    static func host(of row: Row) -> String? { row.count > 4 ? row[4] : nil }

    static func findProcess(_ db: Database, _ selector: ProcessSelector, _ scope: HostScope = HostScope(),
                            schemaVersion: Int = EventStore.schemaVersion) throws -> FoundProcess? {
        let columns = try columns(db)
        switch selector {
        case .guid(let guid):
            if let found = try processCreate(db, guid: guid, scope, columns: columns) { return found }
            // No ProcessCreate (it started before the store did): use its latest other event.
            guard let row = try Row.fetchOne(db, sql: """
                SELECT \(columns) FROM event WHERE process_guid = ?\(scope.clause) ORDER BY time DESC, id DESC LIMIT 1
                """, arguments: scope.with(IndexedColumns.guidKey(guid))) else { return nil }
            var found = try processFound(db, from: try event(from: row), recorded: false, scope: scope)
            found.host = host(of: row)
            return found
        case .processID(let pid):
            // Version 5 on: the sealed segments' entries and the open segment (``EventStore/processIDTables``).
            let (match, arguments): (String, StatementArguments) = schemaVersion >= 5
                ? (EventStore.processIDMatch(schemaVersion: schemaVersion), scope.with(pid, pid, pid)) : ("process_id = ?", scope.with(pid))
            let row = try Row.fetchOne(db, sql: """
                SELECT \(columns) FROM event WHERE \(match) AND event_id = 1\(scope.clause)
                ORDER BY time DESC, id DESC LIMIT 1
                """, arguments: arguments)
                ?? Row.fetchOne(db, sql: """
                SELECT \(columns) FROM event WHERE \(match) AND process_guid IS NOT NULL\(scope.clause)
                ORDER BY time DESC, id DESC LIMIT 1
                """, arguments: arguments)
            guard let row else { return nil }
            let event = try event(from: row)
            var found = try processFound(db, from: event, recorded: event.kind.id == EventKind.processCreate.id, scope: scope)
            found.host = host(of: row)
            return found
        }
    }

    static func processCreate(_ db: Database, guid: String, _ scope: HostScope = HostScope(), columns: String? = nil) throws -> FoundProcess? {
        let columns = try columns ?? self.columns(db)
        guard let row = try Row.fetchOne(db, sql: """
            SELECT \(columns) FROM event WHERE process_guid = ? AND event_id = 1\(scope.clause) ORDER BY id LIMIT 1
            """, arguments: scope.with(IndexedColumns.guidKey(guid))) else { return nil }
        var found = try processFound(db, from: try event(from: row), scope: scope)
        found.host = host(of: row)
        return found
    }

    static func processFound(_ db: Database, from event: Event, recorded: Bool = true, scope: HostScope = HostScope()) throws -> FoundProcess {
        func v(_ name: String) -> String {
            guard let value = event[name], value != Event.absent else { return "" }
            return value
        }
        let guid = v("ProcessGuid")
        let isCreate = event.kind.id == EventKind.processCreate.id
        var node = ProcessNode(
            guid: guid, processID: Int(v("ProcessId")), image: v("Image"), commandLine: v("CommandLine"),
            user: v("User"), parentGuid: v("ParentProcessGuid").isEmpty ? nil : v("ParentProcessGuid"),
            started: isCreate ? event.time : nil, ended: nil, recorded: recorded && isCreate)
        if event.kind.containerFieldsStart != nil, let id = event["ContainerId"] {
            // A row of a store written before containers were recorded has
            // `-` everywhere, namespaces included: then nothing is known.
            let known = id != Event.absent || event["PidNamespace"] != Event.absent
            if known {
                node.containerID = id
                node.containerRuntime = event["ContainerRuntime"]
                node.podUID = event["PodUid"]
                node.pidNamespace = event["PidNamespace"]
                node.containerProcessID = event["ContainerProcessId"]
            }
        }
        if let endTime = try Int64.fetchOne(db, sql: """
            SELECT time FROM event WHERE process_guid = ? AND event_id = 5\(scope.clause) ORDER BY id LIMIT 1
            """, arguments: scope.with(IndexedColumns.guidKey(guid))) {
            node.ended = EventTime(nanosecondsSinceEpoch: endTime)
        }
        let stub = ProcessNode(
            guid: node.parentGuid ?? "-", processID: Int(v("ParentProcessId")), image: v("ParentImage"),
            commandLine: v("ParentCommandLine"), user: v("ParentUser"), parentGuid: nil, started: nil,
            ended: nil, recorded: false)
        return FoundProcess(node: node, parentStub: stub)
    }
}
