import FoundationEssentials
import Glibc

// The few things full Foundation gave our shipping code (NSString paths, CharacterSet trimming,
// String(format:), Thread, FileHandle). The binaries import FoundationEssentials only, which
// carries no ICU (BENCHMARKS.md §8); these are its small stand-ins, one place each.

/// Path arithmetic on plain strings, as NSString's path methods did it.
public enum Path {
    /// `directory` and `name` joined by one slash (`appendingPathComponent`).
    public static func join(_ directory: String, _ name: String) -> String {
        if directory.isEmpty { return name }
        if name.isEmpty { return directory }
        let head = directory.hasSuffix("/") ? String(directory.dropLast()) : directory
        let tail = name.hasPrefix("/") ? String(name.dropFirst()) : name
        return head + "/" + tail
    }

    /// The last component, trailing slashes ignored: `/a/b/` → `b`, `/` → `/` (`lastPathComponent`).
    public static func lastComponent(_ path: String) -> String {
        let trimmed = trimmingTrailingSlashes(path)
        if trimmed == "/" || trimmed.isEmpty { return trimmed }
        guard let slash = trimmed.lastIndex(of: "/") else { return trimmed }
        return String(trimmed[trimmed.index(after: slash)...])
    }

    /// The path without its last component: `/a/b` → `/a`, `/a` → `/`, `a` → `` (`deletingLastPathComponent`).
    public static func parent(_ path: String) -> String {
        let trimmed = trimmingTrailingSlashes(path)
        if trimmed == "/" { return "/" }
        guard let slash = trimmed.lastIndex(of: "/") else { return "" }
        if slash == trimmed.startIndex { return "/" }
        return trimmingTrailingSlashes(String(trimmed[..<slash]))
    }

    private static func trimmingTrailingSlashes(_ path: String) -> String {
        var result = Substring(path)
        while result.count > 1 && result.hasSuffix("/") { result = result.dropLast() }
        return String(result)
    }
}

extension StringProtocol {
    /// Without leading and trailing white space and line breaks (`.whitespacesAndNewlines`).
    public var trimmed: String { trimming(\.isWhitespace) }

    /// Without leading and trailing spaces and tabs; line breaks kept (`.whitespaces`).
    public var trimmedSpaces: String { trimming { $0.isWhitespace && !$0.isNewline } }

    /// Without leading and trailing line breaks (`.newlines`).
    public var trimmedNewlines: String { trimming(\.isNewline) }

    private func trimming(_ drop: (Character) -> Bool) -> String {
        guard let first = firstIndex(where: { !drop($0) }), let last = lastIndex(where: { !drop($0) }) else { return "" }
        return String(self[first...last])
    }
}

/// printf-style formatting through the C library (`String(format:)` for the few numeric formats we
/// use: `%.3f`, `%02x`).
public func cFormat(_ format: String, _ arguments: any CVarArg...) -> String {
    withVaList(arguments) { list in
        var buffer = [CChar](repeating: 0, count: 512)
        let written = Int(vsnprintf(&buffer, buffer.count, format, list))
        guard written >= 0 else { return "" }
        return String(decoding: buffer.prefix(min(written, buffer.count - 1)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// Text to the process's standard error with write(2), whole or until it fails.
public enum StandardError {
    public static func write(_ text: String) {
        let bytes = Array(text.utf8)
        bytes.withUnsafeBytes { buffer in
            guard let base = buffer.baseAddress else { return }
            var offset = 0
            while offset < buffer.count {
                let written = Glibc.write(2, base + offset, buffer.count - offset)
                if written < 0 && errno == EINTR { continue }
                guard written > 0 else { return }
                offset += written
            }
        }
    }
}

/// A detached POSIX thread for work that blocks (poll(2), a synchronous system call) and so must
/// not run on the concurrency pool.
public enum DetachedThread {
    public struct StartError: Error, CustomStringConvertible {
        public let code: Int32
        public var description: String { "pthread_create: \(String(cString: strerror(code)))" }
    }

    fileprivate final class Work: Sendable {
        let name: String
        let body: @Sendable () -> Void
        init(name: String, body: @escaping @Sendable () -> Void) {
            self.name = name
            self.body = body
        }
    }

    /// Starts `body` on a new thread named `name` (the kernel keeps the first 15 bytes).
    public static func start(name: String, _ body: @escaping @Sendable () -> Void) throws {
        let work = Unmanaged.passRetained(Work(name: name, body: body)).toOpaque()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        var thread = pthread_t()
        let code = pthread_create(&thread, &attributes, runDetachedThread, work)
        if code != 0 {
            Unmanaged<Work>.fromOpaque(work).release()
            throw StartError(code: code)
        }
    }

    fileprivate static func run(_ raw: UnsafeMutableRawPointer) {
        let work = Unmanaged<Work>.fromOpaque(raw).takeRetainedValue()
        nameThisThread(work.name)
        work.body()
    }

    /// pthread_setname_np without _GNU_SOURCE: the kernel's comm file of the calling thread.
    private static func nameThisThread(_ name: String) {
        let fd = Glibc.open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        defer { close(fd) }
        let bytes = Array(name.utf8.prefix(15))
        _ = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
    }
}

/// `text` with every UTF-8 byte percent-encoded (`%2F`) except ASCII letters, digits and the
/// characters of `kept` (`addingPercentEncoding(withAllowedCharacters:)`).
public func percentEncoded(_ text: String, keeping kept: String) -> String {
    let keptBytes = Set(kept.utf8)
    let hex = Array("0123456789ABCDEF".utf8)
    var out: [UInt8] = []
    out.reserveCapacity(text.utf8.count)
    for byte in text.utf8 {
        let isAlphanumeric = (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
        if isAlphanumeric || keptBytes.contains(byte) {
            out.append(byte)
        } else {
            out += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
        }
    }
    return String(decoding: out, as: UTF8.self)
}

/// The C entry point of a `DetachedThread`.
private func runDetachedThread(_ raw: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    if let raw { DetachedThread.run(raw) }
    return nil
}
