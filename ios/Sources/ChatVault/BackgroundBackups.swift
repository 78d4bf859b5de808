// Scheduled backups on iOS with BGTaskScheduler. Add both identifiers to the app's
// Info.plist under BGTaskSchedulerPermittedIdentifiers, and `processing` to
// UIBackgroundModes.
#if os(iOS)
import BackgroundTasks
import ChatVaultFFI
import Foundation

public enum BackgroundBackups {
    /// The nightly processing task.
    public static let processingIdentifier = "org.chatvault.backup"
    /// A user-started "back up now" that continues in the background (iOS 26).
    public static let continuedIdentifier = "org.chatvault.backup-now"

    /// Registers the handlers; call from `application(_:didFinishLaunchingWithOptions:)`.
    public static func register(scheduler: BackupScheduler) {
        BGTaskScheduler.shared.register(forTaskWithIdentifier: processingIdentifier, using: nil) { task in
            guard let task = task as? BGProcessingTask else { return }
            run(task, scheduler: scheduler)
        }
        if #available(iOS 26.0, *) {
            BGTaskScheduler.shared.register(forTaskWithIdentifier: continuedIdentifier, using: nil) { task in
                guard let task = task as? BGContinuedProcessingTask else { return }
                runContinued(task, scheduler: scheduler)
            }
        }
    }

    /// Asks iOS to run the due plans at night, on power and network.
    public static func scheduleNext(after date: Date = Date(timeIntervalSinceNow: 3600)) throws {
        let request = BGProcessingTaskRequest(identifier: processingIdentifier)
        request.requiresNetworkConnectivity = true
        request.requiresExternalPower = true
        request.earliestBeginDate = date
        try BGTaskScheduler.shared.submit(request)
    }

    /// Starts a user-initiated backup that shows system progress and survives leaving the app.
    @available(iOS 26.0, *)
    public static func backUpNow() throws {
        let request = BGContinuedProcessingTaskRequest(identifier: continuedIdentifier, title: "Backing up chats", subtitle: "Starting…")
        try BGTaskScheduler.shared.submit(request)
    }

    static func conditions() -> DeviceConditions {
        let info = ProcessInfo.processInfo
        return DeviceConditions(metered: false, charging: true, batteryLow: info.isLowPowerModeEnabled, idle: true)
    }

    static func run(_ task: BGProcessingTask, scheduler: BackupScheduler) {
        try? scheduleNext()
        let work = Task {
            do {
                let runs = try await scheduler.runDue(conditions: conditions())
                task.setTaskCompleted(success: !runs.contains { $0.outcome == .failed })
            } catch {
                task.setTaskCompleted(success: false)
            }
        }
        // iOS is reclaiming the time: cancel, the engine stops within a second, and the
        // next run resumes where this one stopped.
        task.expirationHandler = { work.cancel() }
    }

    @available(iOS 26.0, *)
    static func runContinued(_ task: BGContinuedProcessingTask, scheduler: BackupScheduler) {
        task.progress.totalUnitCount = 1000
        let work = Task {
            do {
                _ = try await scheduler.runDue(conditions: conditions()) { progress in
                    task.progress.completedUnitCount = Int64(progress.fraction * 1000)
                    task.updateTitle("Backing up chats", subtitle: progress.current)
                }
                task.setTaskCompleted(success: true)
            } catch {
                task.setTaskCompleted(success: false)
            }
        }
        task.expirationHandler = { work.cancel() }
    }
}
#endif
