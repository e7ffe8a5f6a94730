import CLinuxSyscalls
import Glibc

/// A failed system call: which call, on what, and errno. The one type
/// swiftmon turns a -1 into (the "errno funnel"): every target that makes
/// system calls makes them through ``Syscalls`` and throws this.
public struct SystemCallError: Error, CustomStringConvertible, Equatable, Sendable {
    public let call: String
    /// The file, socket address or other object the call was made on ("" when none).
    public let subject: String
    public let errno: Int32

    public init(_ call: String, _ subject: String = "", errno: Int32) {
        self.call = call
        self.subject = subject
        self.errno = errno
    }

    /// The C library's text for the errno ("No such file or directory").
    public var reason: String { String(cString: strerror(errno)) }

    /// `ENOSPC`, `EPIPE` …: the name a loss is counted under.
    public var errnoName: String { ErrnoName.of(errno) }

    public var description: String {
        let reason = String(cString: strerror(errno))
        return (subject.isEmpty ? "\(call): " : "\(call) \(subject): ") + "\(reason) (\(errnoName))"
    }
}

extension Error {
    /// The C library's text for a failed system call ("No such file or
    /// directory"), or the error's own description.
    public var reason: String { (self as? SystemCallError)?.reason ?? "\(self)" }
}

/// errno values by their C names, from the C library (strerrorname_np), so
/// no table of them is kept here.
public enum ErrnoName {
    public static func of(_ code: Int32) -> String {
        guard let name = swiftmon_errno_name(code) else { return "errno \(code)" }
        return String(cString: name)
    }

    /// A system call's result as Sysmon-style text: "0", or the errno name of a
    /// negative result ("ENOSYS" says more than "-38").
    public static func text(forResult result: Int32) -> String {
        guard result < 0 else { return "0" }
        return result == Int32.min ? "errno \(-Int64(result))" : of(-result)
    }
}

/// Runs `body` until it does not fail with EINTR; turns -1 into a thrown
/// ``SystemCallError`` naming the call and its subject.
@discardableResult
@inline(__always)
public func retryingOnInterrupt<T: BinaryInteger>(_ call: String, _ subject: String = "", _ body: () -> T) throws -> T {
    while true {
        let r = body()
        if r == -1 {
            let e = Glibc.errno
            if e == EINTR { continue }
            throw SystemCallError(call, subject, errno: e)
        }
        return r
    }
}
