/// The SQL that earlier versions of the store wrote, frozen: the migration
/// tests build a store with it and open it with today's `EventStore`. It must
/// not follow the live schema (that is the point), so it is kept here, apart.
enum PastStoreSchemas {
    /// The `event` table, the same in versions 3 and 4 (version 4 keys rows
    /// by time in ns, in the same `id` column).
    static let eventTable = """
        CREATE TABLE IF NOT EXISTS event (
            id INTEGER PRIMARY KEY,
            time INTEGER NOT NULL,
            event_id INTEGER NOT NULL,
            process_guid TEXT,
            process_id INTEGER,
            parent_process_guid TEXT,
            image TEXT,
            fields BLOB NOT NULL,
            raw BLOB,
            container_id TEXT,
            host TEXT,
            import_key INTEGER
        );
        """

    /// Version 3 (before rows were keyed by time): indexes with a trailing time.
    static let versionThree = eventTable + "\n" + """
        CREATE INDEX IF NOT EXISTS event_by_time ON event(time);
        CREATE INDEX IF NOT EXISTS event_by_event_id ON event(event_id, time);
        CREATE INDEX IF NOT EXISTS event_by_process_guid ON event(process_guid, event_id);
        CREATE INDEX IF NOT EXISTS event_by_parent_process_guid ON event(parent_process_guid, event_id, time)
            WHERE parent_process_guid IS NOT NULL;
        CREATE INDEX IF NOT EXISTS event_by_image ON event(image, time);
        CREATE INDEX IF NOT EXISTS event_by_process_id ON event(process_id);
        CREATE INDEX IF NOT EXISTS event_by_container_id ON event(container_id, time)
            WHERE container_id IS NOT NULL;
        CREATE INDEX IF NOT EXISTS event_by_host ON event(host COLLATE NOCASE, time) WHERE host IS NOT NULL;
        CREATE UNIQUE INDEX IF NOT EXISTS event_by_import_key ON event(import_key, host, event_id)
            WHERE import_key IS NOT NULL;
        """

    /// Version 4 (rows keyed by time, a per-row index on process_id).
    static let versionFour = eventTable + "\n" + """
        CREATE INDEX IF NOT EXISTS event_by_event_id ON event(event_id);
        CREATE INDEX IF NOT EXISTS event_by_process_guid ON event(process_guid, event_id);
        CREATE INDEX IF NOT EXISTS event_by_parent_process_guid ON event(parent_process_guid, event_id)
            WHERE parent_process_guid IS NOT NULL;
        CREATE INDEX IF NOT EXISTS event_by_image ON event(image);
        CREATE INDEX IF NOT EXISTS event_by_process_id ON event(process_id);
        CREATE INDEX IF NOT EXISTS event_by_container_id ON event(container_id)
            WHERE container_id IS NOT NULL;
        CREATE INDEX IF NOT EXISTS event_by_host ON event(host COLLATE NOCASE) WHERE host IS NOT NULL;
        CREATE UNIQUE INDEX IF NOT EXISTS event_by_import_key ON event(import_key, host, event_id)
            WHERE import_key IS NOT NULL;
        """

    /// Version 5: version 4 without the per-row process-id index, and process
    /// ids in two levels (the open segment's entries per row in `event_pid_recent`).
    static let versionFive = versionFour.replacingOccurrences(
        of: "CREATE INDEX IF NOT EXISTS event_by_process_id ON event(process_id);\n", with: "") + "\n" + """
        CREATE TABLE IF NOT EXISTS event_pid_recent (
            process_id INTEGER NOT NULL, id INTEGER NOT NULL, PRIMARY KEY (process_id, id)) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS event_pid (
            process_id INTEGER NOT NULL, id INTEGER NOT NULL, PRIMARY KEY (process_id, id)) WITHOUT ROWID;
        """

    /// Version 6: no open-segment entries (the rows above `pid_sealed.through`
    /// are found from the table), and still a per-row EventID index.
    static let versionSix = versionFour.replacingOccurrences(
        of: "CREATE INDEX IF NOT EXISTS event_by_process_id ON event(process_id);\n", with: "") + "\n" + """
        CREATE TABLE IF NOT EXISTS event_pid (
            process_id INTEGER NOT NULL, id INTEGER NOT NULL, PRIMARY KEY (process_id, id)) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS pid_sealed (through INTEGER NOT NULL);
        INSERT INTO pid_sealed (through) SELECT -9223372036854775808
            WHERE NOT EXISTS (SELECT 1 FROM pid_sealed);
        """
}
