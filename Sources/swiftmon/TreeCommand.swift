import ArgumentParser
import SwiftmonStore

/// `swiftmon tree --store PATH GUID|PID`: a process's ancestors and descendants.
struct Tree: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tree",
        abstract: "Draw the process tree around a process recorded in a store."
    )

    @Option(help: "The store file.") var store: String
    @Option(help: "Most descendants to show.") var maxNodes = 10_000
    @Option(help: ArgumentHelp("In a store that imported several hosts' events: the process of this host (Computer, ASCII case ignored).", valueName: "name"))
    var host: String?
    @Argument(help: "A ProcessGuid (braces optional) or a process id (the most recent process with it).")
    var process: String

    func run() throws {
        let reader = try StoreReader(path: store)
        let tree = try reader.processTree(of: ProcessSelector(parsing: process), host: host, maxNodes: maxNodes)
        print(tree.rendered(), terminator: "")
    }
}
