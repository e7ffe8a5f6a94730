/// The events the monitor reports about itself: its start and stop (4), a
/// configuration taking effect (16), and problems — losses above all (255).
public enum MonitorEvents {
    public static func serviceState(_ state: String, version: String, sources: String) -> Event {
        var e = Event(.serviceStateChange, time: .now())
        e["State"] = state
        e["Version"] = version
        e["SchemaVersion"] = "4.90"
        e["Sources"] = sources
        return e
    }

    public static func configurationChange(name: String, hash: String) -> Event {
        var e = Event(.configurationChange, time: .now())
        e["Configuration"] = name
        e["ConfigurationFileHash"] = hash
        return e
    }

    public static func error(id: Int, _ description: String) -> Event {
        var e = Event(.error, time: .now())
        e["ID"] = String(id)
        e["Description"] = description
        return e
    }
}

/// The IDs in event 255's `ID` field.
public enum ErrorEventID {
    public static let eventsLost = 1
    public static let configurationRejected = 2
    public static let sinkFailed = 3
}
