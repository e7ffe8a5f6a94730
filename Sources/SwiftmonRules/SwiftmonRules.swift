// Sysmon configuration rules: see RuleSet.
