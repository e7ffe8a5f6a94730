import SwiftmonCore

/// Records → swiftmon events (work in progress: replaced below).
public enum EvtxEventMapper {
    public static func event(_ r: EvtxRecord) -> Event {
        Event(.traceEvent, time: EventTime(nanosecondsSinceEpoch: r.timeCreated ?? r.written))
    }
}
