import Glibc

/// uid → user name, looked up once per uid (a storm of one user's processes
/// asks NSS once). A uid without a name is shown as its number.
final class UserNames {
    // The reader thread's alone, never accessed overlapping: no run-time
    // exclusivity checks (per exec and fork, issue 10).
    @exclusivity(unchecked) private var names: [UInt32: String] = [:]
    private var passwdChange: Int = 0
    /// A fixed table never asks NSS (tests: the same names on every machine).
    private let isFixed: Bool

    init() { isFixed = false }

    /// Exactly these names; any other uid is shown as its number.
    init(fixed table: [UInt32: String]) {
        names = table
        isFixed = true
    }

    func name(_ uid: UInt32) -> String {
        // A storm's execs and forks are nearly all one user's: the last
        // answer is checked first (a dictionary lookup per exec and fork
        // otherwise, SipHash each).
        if uid == lastUID, let lastName { return lastName }
        let n: String
        if let known = names[uid] {
            n = known
        } else {
            n = (isFixed ? nil : lookup(uid)) ?? String(uid)
            names[uid] = n
        }
        lastUID = uid
        lastName = n
        return n
    }

    @exclusivity(unchecked) private var lastUID: UInt32 = 0
    @exclusivity(unchecked) private var lastName: String?

    /// Forgets the cache when /etc/passwd changed (users added or renamed).
    func refreshIfChanged() {
        guard !isFixed else { return }
        var st = stat()
        guard stat("/etc/passwd", &st) == 0 else { return }
        let stamp = Int(st.st_mtim.tv_sec) &* 1_000_000_000 &+ Int(st.st_mtim.tv_nsec)
        if stamp != passwdChange {
            passwdChange = stamp
            names.removeAll()
            lastName = nil
        }
    }

    private func lookup(_ uid: UInt32) -> String? {
        var pwd = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 4096)
        let rc = getpwuid_r(uid, &pwd, &buffer, buffer.count, &result)
        guard rc == 0, result != nil, let name = pwd.pw_name else { return nil }
        return String(cString: name)
    }
}
