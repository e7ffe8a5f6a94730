/// The configuration swiftmon applies when `run` is given none: an ordinary
/// Sysmon configuration, so `swiftmon config dump` shows it and users can start
/// their own from it (`swiftmon config default > my.xml`).
///
/// Chosen for a first run on a Linux host: every process start and end, every
/// network connection, kernel-module loads, raw block-device reads, process
/// access (ptrace, process_vm_*), BPF program loads and service installs; file
/// creation, rename and deletion only where attackers persist or hide (system
/// binaries, /etc, boot, cron, systemd units, ssh keys, shell start-up files,
/// logs), and thread create/exit, so that `swiftmon run` shows every process
/// and thread that starts or ends. Not logged: image loads (every shared
/// library of every process) — add `<ImageLoad onmatch="exclude"/>` to turn
/// them on, or remove the thread blocks on busy hosts.
public enum DefaultConfiguration {
    public static let xml = #"""
<Sysmon schemaversion="4.90">
  <!-- swiftmon's embedded default configuration (see docs/RULES.md). -->
  <!-- No HashAlgorithms: hashing is asked for with the hash option of swiftmon run, or in your own
       configuration; each new executable then costs one read of the file. -->
  <EventFiltering>
    <!-- Event 1: every process start. -->
    <RuleGroup name="" groupRelation="or">
      <ProcessCreate onmatch="exclude"/>
    </RuleGroup>
    <!-- Event 5: every process end. -->
    <RuleGroup name="" groupRelation="or">
      <ProcessTerminate onmatch="exclude"/>
    </RuleGroup>
    <!-- Events 200/201: every thread start and end. -->
    <RuleGroup name="" groupRelation="or">
      <ThreadCreate onmatch="exclude"/>
    </RuleGroup>
    <RuleGroup name="" groupRelation="or">
      <ThreadTerminate onmatch="exclude"/>
    </RuleGroup>
    <!-- Event 3: network connections, except the loopback chatter of local services. -->
    <RuleGroup name="" groupRelation="or">
      <NetworkConnect onmatch="exclude">
        <Rule groupRelation="and">
          <SourceIp condition="is any">127.0.0.1;::1</SourceIp>
          <DestinationIp condition="is any">127.0.0.1;::1</DestinationIp>
        </Rule>
      </NetworkConnect>
    </RuleGroup>
    <!-- Event 6: kernel-module loads (attempts included). -->
    <RuleGroup name="" groupRelation="or">
      <DriverLoad onmatch="exclude"/>
    </RuleGroup>
    <!-- Event 9: direct reads of block devices. -->
    <RuleGroup name="" groupRelation="or">
      <RawAccessRead onmatch="exclude"/>
    </RuleGroup>
    <!-- Event 10: ptrace and process_vm_readv/writev on other processes. -->
    <RuleGroup name="" groupRelation="or">
      <ProcessAccess onmatch="exclude"/>
    </RuleGroup>
    <!-- Event 100: BPF programs loaded. -->
    <RuleGroup name="" groupRelation="or">
      <eBPFEvent onmatch="exclude"/>
    </RuleGroup>
    <!-- Event 202: services (systemd units) installed. -->
    <RuleGroup name="" groupRelation="or">
      <ServiceInstall onmatch="exclude"/>
    </RuleGroup>
    <!-- Event 11: files created where attackers persist or plant binaries. -->
    <RuleGroup name="" groupRelation="or">
      <FileCreate onmatch="include">
        <TargetFilename name="system binaries" condition="begin with">/bin/</TargetFilename>
        <TargetFilename name="system binaries" condition="begin with">/sbin/</TargetFilename>
        <TargetFilename name="system binaries" condition="begin with">/usr/bin/</TargetFilename>
        <TargetFilename name="system binaries" condition="begin with">/usr/sbin/</TargetFilename>
        <TargetFilename name="system binaries" condition="begin with">/usr/local/bin/</TargetFilename>
        <TargetFilename name="system binaries" condition="begin with">/usr/local/sbin/</TargetFilename>
        <TargetFilename name="system configuration" condition="begin with">/etc/</TargetFilename>
        <TargetFilename name="boot" condition="begin with">/boot/</TargetFilename>
        <TargetFilename name="kernel modules" condition="begin with">/lib/modules/</TargetFilename>
        <TargetFilename name="kernel modules" condition="begin with">/usr/lib/modules/</TargetFilename>
        <TargetFilename name="systemd units" condition="begin with">/usr/lib/systemd/</TargetFilename>
        <TargetFilename name="systemd units" condition="begin with">/lib/systemd/</TargetFilename>
        <TargetFilename name="cron" condition="begin with">/var/spool/cron/</TargetFilename>
        <TargetFilename name="root home" condition="begin with">/root/</TargetFilename>
        <TargetFilename name="ssh keys" condition="contains">/.ssh/</TargetFilename>
        <TargetFilename name="shell start-up" condition="end with">/.bashrc</TargetFilename>
        <TargetFilename name="shell start-up" condition="end with">/.bash_profile</TargetFilename>
        <TargetFilename name="shell start-up" condition="end with">/.profile</TargetFilename>
        <TargetFilename name="shell start-up" condition="end with">/.zshrc</TargetFilename>
        <TargetFilename name="user systemd units" condition="contains">/.config/systemd/</TargetFilename>
        <TargetFilename name="user autostart" condition="contains">/.config/autostart/</TargetFilename>
        <TargetFilename name="shared memory" condition="begin with">/dev/shm/</TargetFilename>
      </FileCreate>
    </RuleGroup>
    <!-- Event 203: the same places, for renames into them. -->
    <RuleGroup name="" groupRelation="or">
      <FileRename onmatch="include">
        <TargetFilename name="system binaries" condition="begin with">/bin/</TargetFilename>
        <TargetFilename name="system binaries" condition="begin with">/sbin/</TargetFilename>
        <TargetFilename name="system binaries" condition="begin with">/usr/bin/</TargetFilename>
        <TargetFilename name="system binaries" condition="begin with">/usr/sbin/</TargetFilename>
        <TargetFilename name="system binaries" condition="begin with">/usr/local/bin/</TargetFilename>
        <TargetFilename name="system configuration" condition="begin with">/etc/</TargetFilename>
        <TargetFilename name="boot" condition="begin with">/boot/</TargetFilename>
        <TargetFilename name="systemd units" condition="begin with">/usr/lib/systemd/</TargetFilename>
        <TargetFilename name="cron" condition="begin with">/var/spool/cron/</TargetFilename>
        <TargetFilename name="ssh keys" condition="contains">/.ssh/</TargetFilename>
        <TargetFilename name="shell start-up" condition="end with">/.bashrc</TargetFilename>
        <TargetFilename name="shell start-up" condition="end with">/.profile</TargetFilename>
      </FileRename>
    </RuleGroup>
    <!-- Event 23: deletions of binaries, configuration, keys and logs (covering tracks). -->
    <RuleGroup name="" groupRelation="or">
      <FileDelete onmatch="include">
        <TargetFilename name="system binaries" condition="begin with">/bin/</TargetFilename>
        <TargetFilename name="system binaries" condition="begin with">/sbin/</TargetFilename>
        <TargetFilename name="system binaries" condition="begin with">/usr/bin/</TargetFilename>
        <TargetFilename name="system binaries" condition="begin with">/usr/sbin/</TargetFilename>
        <TargetFilename name="system configuration" condition="begin with">/etc/</TargetFilename>
        <TargetFilename name="boot" condition="begin with">/boot/</TargetFilename>
        <TargetFilename name="logs" condition="begin with">/var/log/</TargetFilename>
        <TargetFilename name="ssh keys" condition="contains">/.ssh/</TargetFilename>
        <TargetFilename name="shell history" condition="end with">/.bash_history</TargetFilename>
        <TargetFilename name="shell history" condition="end with">/.zsh_history</TargetFilename>
      </FileDelete>
    </RuleGroup>
  </EventFiltering>
</Sysmon>
"""#
}
