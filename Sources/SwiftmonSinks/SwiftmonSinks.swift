// Sinks: console text and JSON lines.
