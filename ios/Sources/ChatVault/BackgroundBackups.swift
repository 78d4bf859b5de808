// Scheduled backups on iOS with BGTaskScheduler. Add `BackgroundBackups.identifiers.permitted`
// (`<bundle id>.chatvault.backup` and `<bundle id>.chatvault.backup-now.*`) to the app's
// Info.plist under BGTaskSchedulerPermittedIdentifiers, and `processing` to UIBackgroundModes.
#if os(iOS)
import BackgroundTasks
import ChatVaultFFI
import Foundation
import Network
import UIKit

public enum BackgroundBackups {
    /// This app's identifiers: iOS refuses identifiers not under the app's bundle id.
    public static let identifiers = BackgroundTaskIdentifiers(bundleIdentifier: Bundle.main.bundleIdentifier ?? "org.chatvault")
    /// The nightly processing task.
    public static var processingIdentifier: String { identifiers.processing }
    nonisolated(unsafe) static var registeredScheduler: BackupScheduler?

    /// Registers the handlers; call from `application(_:didFinishLaunchingWithOptions:)`.
    public static func register(scheduler: BackupScheduler) {
        registeredScheduler = scheduler
        BGTaskScheduler.shared.register(forTaskWithIdentifier: processingIdentifier, using: nil) { task in
            guard let task = task as? BGProcessingTask else { return }
            run(task, scheduler: scheduler)
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
    /// Each run has its own identifier under the wildcard `<bundle id>.chatvault.backup-now.*`,
    /// registered just before it is submitted.
    @available(iOS 26.0, *)
    public static func backUpNow() throws {
        guard let scheduler = registeredScheduler else { throw ChatVaultError.Internal(details: "BackgroundBackups.register was not called") }
        let identifier = identifiers.continued(UUID().uuidString)
        BGTaskScheduler.shared.register(forTaskWithIdentifier: identifier, using: nil) { task in
            guard let task = task as? BGContinuedProcessingTask else { return }
            runContinued(task, scheduler: scheduler)
        }
        let request = BGContinuedProcessingTaskRequest(identifier: identifier, title: "Backing up chats", subtitle: "Starting…")
        try BGTaskScheduler.shared.submit(request)
    }

    /// The device's real state: the current network path (expensive or constrained is
    /// metered) and the battery, so each plan's own constraints decide whether it runs.
    static func conditions() async -> DeviceConditions {
        let path: NWPath = await withCheckedContinuation { continuation in
            let monitor = NWPathMonitor()
            monitor.pathUpdateHandler = { path in
                monitor.cancel()
                continuation.resume(returning: path)
            }
            monitor.start(queue: DispatchQueue(label: "org.chatvault.path"))
        }
        let charging: Bool = await MainActor.run {
            UIDevice.current.isBatteryMonitoringEnabled = true
            let state = UIDevice.current.batteryState
            return state == .charging || state == .full
        }
        return deviceConditions(networkExpensive: path.isExpensive, networkConstrained: path.isConstrained,
                                charging: charging, lowPowerMode: ProcessInfo.processInfo.isLowPowerModeEnabled, idle: true)
    }

    static func run(_ task: BGProcessingTask, scheduler: BackupScheduler) {
        try? scheduleNext()
        let work = Task {
            do {
                let runs = try await scheduler.runDue(conditions: await conditions())
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
                _ = try await scheduler.runDue(conditions: await conditions()) { progress in
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
