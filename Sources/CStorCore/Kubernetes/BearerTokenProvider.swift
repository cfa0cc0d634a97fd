import CStorCore
import FoundationEssentials

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The bearer token for the next request. A token file is read again when it changed since the
/// last read (kubelet rotates projected service account tokens by swapping a symlink, which `stat`
/// sees as a new inode), or when the server answered 401.
public final class BearerTokenProvider: Sendable {
    private let credentials: KubernetesConfiguration.Credentials
    private let cache = LockedValue<(token: String, stamp: FileStamp)?>(nil)

    public init(_ credentials: KubernetesConfiguration.Credentials) {
        self.credentials = credentials
    }

    /// Whether a 401 may be cured by reading the token again.
    public var canReload: Bool {
        if case .tokenFile = credentials { return true }
        return false
    }

    public func token(forceReload: Bool = false) throws -> String? {
        switch credentials {
        case .none:
            return nil
        case .token(let token):
            return token
        case .tokenFile(let path):
            let stamp = FileStamp(path: path)
            if !forceReload, let stamp, let cached = cache.value, cached.stamp == stamp {
                return cached.token
            }
            guard let data = FileManager.default.contents(atPath: path) else {
                throw KubernetesError(.configuration, "cannot read the bearer token file \(path)")
            }
            let token = String(decoding: data, as: UTF8.self).trimmed
            guard !token.isEmpty else {
                throw KubernetesError(.configuration, "the bearer token file \(path) is empty")
            }
            if let stamp {
                cache.value = (token, stamp)
            }
            return token
        }
    }

    /// What identifies one version of a file: device, inode, size and modification time.
    struct FileStamp: Equatable, Sendable {
        var device: UInt64
        var inode: UInt64
        var size: Int64
        var seconds: Int
        var nanoseconds: Int

        init?(path: String) {
            var info = stat()
            guard stat(path, &info) == 0 else { return nil }
            device = UInt64(info.st_dev)
            inode = UInt64(info.st_ino)
            size = Int64(info.st_size)
            #if canImport(Darwin)
            seconds = Int(info.st_mtimespec.tv_sec)
            nanoseconds = Int(info.st_mtimespec.tv_nsec)
            #else
            seconds = Int(info.st_mtim.tv_sec)
            nanoseconds = Int(info.st_mtim.tv_nsec)
            #endif
        }
    }
}
