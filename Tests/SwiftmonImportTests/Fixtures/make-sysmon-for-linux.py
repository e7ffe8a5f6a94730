# Writes Tests/SwiftmonImportTests/Fixtures/sysmon-for-linux.log: Sysmon for Linux's
# exact XML layout (EVENTS.md field order), CRLF line ends, each common syslog prefix.
fields = {
 1: "RuleName UtcTime ProcessGuid ProcessId Image FileVersion Description Product Company OriginalFileName CommandLine CurrentDirectory User LogonGuid LogonId TerminalSessionId IntegrityLevel Hashes ParentProcessGuid ParentProcessId ParentImage ParentCommandLine ParentUser",
 3: "RuleName UtcTime ProcessGuid ProcessId Image User Protocol Initiated SourceIsIpv6 SourceIp SourceHostname SourcePort SourcePortName DestinationIsIpv6 DestinationIp DestinationHostname DestinationPort DestinationPortName",
 4: "UtcTime State Version SchemaVersion",
 5: "RuleName UtcTime ProcessGuid ProcessId Image User",
 11: "RuleName UtcTime ProcessGuid ProcessId Image TargetFilename CreationUtcTime User",
 16: "UtcTime Configuration ConfigurationFileHash",
 23: "RuleName UtcTime ProcessGuid ProcessId User Image TargetFilename Hashes IsExecutable Archived",
}
versions = {1: 5, 3: 5, 4: 3, 5: 3, 11: 2, 16: 3, 23: 5}
def event(eid, rid, host, values, systime):
    names = fields[eid].split()
    assert len(names) == len(values), (eid, len(names), len(values))
    data = "".join('<Data Name="%s">%s</Data>' % (n, v) for n, v in zip(names, values))
    return ('<Event><System><Provider Name="Linux-Sysmon" Guid="{ff032593-a8d3-4f13-b0d6-01fc615a0f97}"/>'
            '<EventID>%d</EventID><Version>%d</Version><Level>4</Level><Task>%d</Task><Opcode>0</Opcode>'
            '<Keywords>0x8000000000000000</Keywords><TimeCreated SystemTime="%s"/>'
            '<EventRecordID>%d</EventRecordID><Correlation/><Execution ProcessID="2352" ThreadID="2352"/>'
            '<Channel>Linux-Sysmon/Operational</Channel><Computer>%s</Computer><Security UserId="0"/></System>'
            '<EventData>%s</EventData></Event>') % (eid, versions[eid], eid, systime, rid, host, data)
g_bash = "{ef0c1d6c-96d5-6169-c5e8-06f3a6550000}"
g_sh = "{ef0c1d6c-96e0-6169-6d3b-c3c9f2550000}"
lines = []
# 1: RFC 3164 (rsyslog's traditional file format), tag without pid; entity-escaped CommandLine.
lines.append("Oct 15 14:59:28 web-01 sysmon: " + event(1, 19, "web-01", [
    "-", "2021-10-15 14:59:28.168", g_sh, "2359", "/usr/bin/sh", "-", "-", "-", "-", "-",
    "sh -c &quot;echo a &amp;&amp; cat &lt;/etc/passwd&gt; /tmp/x&quot;&#9;&#x41;", "/home/user", "user",
    "{ef0c1d6c-0000-0000-e803-000000000000}", "1000", "3", "no level", "-", g_bash, "2277", "/usr/bin/bash",
    "-bash", "user"], "2021-10-15T14:59:28.169285000Z"))
# 2: RFC 5424 with <pri>, procid, msgid, structured data.
lines.append('<14>1 2021-10-15T14:59:29.001+00:00 web-01 sysmon 2352 - [meta sequenceId="7" note="a ] b"] ' + event(3, 20, "web-01", [
    "-", "2021-10-15 14:59:29.000", g_sh, "2359", "/usr/bin/sh", "user", "tcp", "true", "false", "10.0.0.5", "-",
    "40312", "-", "false", "93.184.216.34", "-", "443", "https"], "2021-10-15T14:59:29.001000000Z"))
# 3: rsyslog's high-precision file format, tag with pid.
lines.append("2021-10-15T14:59:30.123456+00:00 web-01 sysmon[2352]: " + event(11, 21, "web-01", [
    "-", "2021-10-15 14:59:30.120", g_sh, "2359", "/usr/bin/sh", "/tmp/x", "2021-10-15 14:59:30.120", "user"],
    "2021-10-15T14:59:30.123000000Z"))
# 4: <pri> + RFC 3164 (what a forwarder writes raw), day padded with a space.
lines.append("<14>Oct  5 14:59:31 web-01 sysmon[2352]: " + event(5, 22, "web-01", [
    "-", "2021-10-15 14:59:31.500", g_sh, "2359", "/usr/bin/sh", "user"], "2021-10-15T14:59:31.501000000Z"))
# 5: another program's message in the collector's file.
lines.append("Oct 15 14:59:32 web-01 CRON[4242]: (root) CMD (run-parts /etc/cron.hourly)")
# 6: a bare XML document (plain XML, one per line), another host.
lines.append(event(23, 7, "db-02", [
    "-", "2021-10-15 15:00:00.000", "{aa0c1d6c-96e0-6169-6d3b-c3c9f2550000}", "811", "root", "/usr/bin/rm",
    "/var/lib/app/old.db", "SHA256=0000000000000000000000000000000000000000000000000000000000000000", "false", "-"],
    "2021-10-15T15:00:00.001000000Z"))
# 7: malformed: the document is cut short (a collector truncated the message).
lines.append("Oct 15 14:59:33 web-01 sysmon: " + event(1, 23, "web-01", ["-"] * 23, "2021-10-15T14:59:33.000000000Z")[:300])
# 8: service state and configuration events (no RuleName), 9: the same service event from db-02.
lines.append("Oct 15 14:50:00 web-01 sysmon: " + event(4, 1, "web-01", [
    "2021-10-15 14:50:00.000", "Started", "1.0.0", "4.81"], "2021-10-15T14:50:00.000000000Z"))
lines.append("Oct 15 14:50:00 web-01 sysmon: " + event(16, 2, "web-01", [
    "2021-10-15 14:50:00.001", "/opt/sysmon/config.xml", "SHA256=AB"], "2021-10-15T14:50:00.001000000Z"))
lines.append("Oct 15 14:50:01 db-02 sysmon: " + event(4, 1, "db-02", [
    "2021-10-15 14:50:01.000", "Started", "1.0.0", "4.81"], "2021-10-15T14:50:01.000000000Z"))
open("Tests/SwiftmonImportTests/Fixtures/sysmon-for-linux.log", "w", newline="").write("".join(l + "\r\n" for l in lines))
