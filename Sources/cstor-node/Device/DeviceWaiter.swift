import CLibUdev
import CStorCore
import FoundationEssentials
import Glibc

/// Waits for a device to appear (after a login or a rescan).
protocol DeviceWaiter: Sendable {
    /// Returns what `find` returns once it is not nil, or throws when `timeout` passes first.
    /// `what` names the awaited device in the error.
    func waitForDevice(_ what: String, timeout: Duration, _ find: @escaping @Sendable () -> String?) async throws -> String
}

/// Waits on the kernel's "block" events through a libudev monitor, looking again after each
/// event, with a fallback look every second in case an event was missed or udevd runs elsewhere.
/// No fixed sleeps: the wait ends as soon as the device is there.
struct UdevDeviceWaiter: DeviceWaiter {
    func waitForDevice(_ what: String, timeout: Duration, _ find: @escaping @Sendable () -> String?) async throws -> String {
        if let device = find() { return device }
        do {
            // The poll loop blocks a thread; it runs on its own, never on the concurrency pool.
            return try await Deadline.blocking(timeout: timeout + .seconds(1)) {
                try Self.blockingWait(what, timeout: timeout, find)
            }
        } catch is Deadline.Expired {
            throw DeviceWaitError(link: what, timeout: timeout)
        }
    }

    private static func blockingWait(_ what: String, timeout: Duration, _ find: () -> String?) throws -> String {
        let deadline = ContinuousClock.now + timeout
        let udev = udev_new()
        defer { if let udev { udev_unref(udev) } }
        var monitor: OpaquePointer?
        if let udev, let created = udev_monitor_new_from_netlink(udev, "kernel") {
            udev_monitor_filter_add_match_subsystem_devtype(created, "block", nil)
            if udev_monitor_enable_receiving(created) == 0 { monitor = created } else { udev_monitor_unref(created) }
        }
        defer { if let monitor { udev_monitor_unref(monitor) } }
        let fd = monitor.map { udev_monitor_get_fd($0) } ?? -1
        while true {
            if let device = find() { return device }
            let remaining = ContinuousClock.now.duration(to: deadline)
            guard remaining > .zero else { throw DeviceWaitError(link: what, timeout: timeout) }
            let waitMilliseconds = Int32(min(1000, max(1, remaining.components.seconds * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000)))
            if fd >= 0, let monitor {
                var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                if poll(&descriptor, 1, waitMilliseconds) > 0 {
                    // Drain what arrived; the link check above decides.
                    while let device = udev_monitor_receive_device(monitor) { udev_device_unref(device) }
                }
            } else {
                usleep(UInt32(waitMilliseconds) * 1000)
            }
        }
    }
}

struct DeviceWaitError: Error, CSIErrorMappable, CustomStringConvertible {
    var link: String
    var timeout: Duration

    var description: String { "\(link) did not appear within \(timeout)" }
    var csiError: CSIError { .deadlineExceeded(description) }
}
