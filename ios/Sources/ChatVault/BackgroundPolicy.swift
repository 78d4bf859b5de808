// What iOS background tasks need that involves no Apple framework: their identifiers and
// the device conditions plans are checked against. Compiled and tested on Linux too.
import ChatVaultFFI

/// The BGTaskScheduler identifiers of an app. iOS accepts only identifiers that start with
/// the app's bundle identifier; a continued-processing task (iOS 26) is submitted under a
/// fresh identifier each time, permitted by a wildcard entry in Info.plist.
public struct BackgroundTaskIdentifiers: Sendable, Equatable {
    /// The nightly processing task.
    public let processing: String
    /// Continued-processing tasks are `<continuedPrefix>.<unique>`.
    public let continuedPrefix: String

    public init(bundleIdentifier: String) {
        processing = "\(bundleIdentifier).chatvault.backup"
        continuedPrefix = "\(bundleIdentifier).chatvault.backup-now"
    }

    /// The entries for Info.plist's BGTaskSchedulerPermittedIdentifiers.
    public var permitted: [String] { [processing, "\(continuedPrefix).*"] }

    /// A continued-processing identifier for one user-started run.
    public func continued(_ unique: String) -> String { "\(continuedPrefix).\(unique)" }
}

/// The conditions the engine checks each plan's constraints against, from what the device
/// reports: an expensive (cellular, hotspot) or constrained (Low Data Mode) network is
/// metered; unknown battery state is not charging. Nothing is assumed: a plan that wants
/// Wi-Fi and power is skipped (and retried later) when they are missing.
public func deviceConditions(networkExpensive: Bool, networkConstrained: Bool, charging: Bool, lowPowerMode: Bool, idle: Bool) -> DeviceConditions {
    DeviceConditions(metered: networkExpensive || networkConstrained, charging: charging, batteryLow: lowPowerMode, idle: idle)
}
