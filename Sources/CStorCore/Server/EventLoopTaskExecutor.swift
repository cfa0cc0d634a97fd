import NIOCore

/// Runs tasks on a NIO event loop's thread: RPCs that prefer it run where their bytes arrive and
/// leave, without waking a cooperative-pool thread for each step of the call.
public final class EventLoopTaskExecutor: TaskExecutor, Sendable {
    private let eventLoop: any EventLoop

    public init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        eventLoop.execute { job.runSynchronously(on: executor) }
    }
}
