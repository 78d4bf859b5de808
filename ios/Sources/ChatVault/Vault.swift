// The idiomatic Swift API over the generated bindings (module ChatVaultFFI).
import ChatVaultFFI
import Foundation

/// What a backup reports while it runs, then once at the end.
public enum BackupEvent: Sendable {
    /// The backup is running.
    case running(ChatVaultFFI.Progress)
    /// The backup finished and wrote a snapshot.
    case done(BackupResult)
}

/// Forwards engine progress to a Swift closure.
final class ProgressRelay: ProgressListener, @unchecked Sendable {
    private let handler: @Sendable (ChatVaultFFI.Progress) -> Void

    init(_ handler: @escaping @Sendable (ChatVaultFFI.Progress) -> Void) {
        self.handler = handler
    }

    func onProgress(progress: ChatVaultFFI.Progress) throws {
        handler(progress)
    }
}

/// Runs a blocking engine call on a background queue. Swift task cancellation does not reach
/// Rust through UniFFI by itself: the cancellation handler calls the job's `cancel()`, the
/// engine stops within a second, and the call throws `CancellationError`.
func runJob<T: Sendable>(_ body: @escaping @Sendable (JobHandle) throws -> T) async throws -> T {
    let job = JobHandle()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, Error>) in
            DispatchQueue.global(qos: .utility).async {
                do {
                    continuation.resume(returning: try body(job))
                } catch ChatVaultError.Cancelled {
                    continuation.resume(throwing: CancellationError())
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    } onCancel: {
        job.cancel()
    }
}

/// The library's entry point: one per app, with a private state directory.
public final class Vault: Sendable {
    private let inner: ChatVault

    /// Sets up the library; logs go to os_log unless a `logger` is given.
    public init(stateDirectory: URL, logger: Logger? = nil) {
        inner = ChatVault(stateDir: stateDirectory.path, logger: logger)
    }

    /// Opens the repository in `folder` with a password or the recovery key.
    public func open(folder: URL, password: String) async throws -> Repo {
        let inner = self.inner
        return Repo(try await runJob { _ in try inner.openLocal(path: folder.path, password: password) })
    }

    /// Creates a repository in `folder`; show `newRecoveryKey()` to the user right after.
    public func create(folder: URL, password: String) async throws -> Repo {
        let inner = self.inner
        return Repo(try await runJob { _ in try inner.createLocal(path: folder.path, password: password) })
    }

    /// Opens a repository in app-provided storage (a security-scoped folder, iCloud Drive).
    public func open(storage: Storage, password: String) async throws -> Repo {
        let inner = self.inner
        return Repo(try await runJob { _ in try inner.openStorage(storage: storage, password: password) })
    }

    /// Creates a repository in app-provided storage.
    public func create(storage: Storage, password: String) async throws -> Repo {
        let inner = self.inner
        return Repo(try await runJob { _ in try inner.createStorage(storage: storage, password: password) })
    }

    /// Opens a repository in the cloud without a computer: S3-compatible storage
    /// (`s3://BUCKET/PREFIX?endpoint=https://…&region=…`) or WebDAV
    /// (`webdav+https://HOST/PATH`), with `access` from the Keychain.
    public func openRemote(location: String, access: RemoteAccess, password: String) async throws -> Repo {
        let inner = self.inner
        return Repo(try await runJob { _ in try inner.openRemote(location: location, access: access, password: password) })
    }

    /// Creates a repository at a cloud `location` (the S3 bucket must exist).
    public func createRemote(location: String, access: RemoteAccess, password: String) async throws -> Repo {
        let inner = self.inner
        return Repo(try await runJob { _ in try inner.createRemote(location: location, access: access, password: password) })
    }

    /// Opens this phone's repository on a paired PC (`LanPairing.location` from `PcPairing`).
    public func openOnPc(location: String, identityPem: String, password: String) async throws -> Repo {
        try await openRemote(location: location, access: RemoteAccess(lanIdentityPem: identityPem), password: password)
    }

    /// Creates this phone's repository on a paired PC.
    public func createOnPc(location: String, identityPem: String, password: String) async throws -> Repo {
        try await createRemote(location: location, access: RemoteAccess(lanIdentityPem: identityPem), password: password)
    }

    /// The backup scheduler; plan passwords go to `secrets` (the Keychain). Plans'
    /// destinations are opened through `destinations` (a folder the user picked in the Files
    /// app, as `FolderStorage`; network credentials from the Keychain); without it they are
    /// paths.
    public func scheduler(secrets: SecretStore, destinations: DestinationResolver? = nil) throws -> BackupScheduler {
        BackupScheduler(try inner.scheduler(secrets: secrets, destinations: destinations))
    }
}

/// An open repository.
public final class Repo: Sendable {
    private let inner: Repository

    init(_ inner: Repository) {
        self.inner = inner
    }

    /// Backs up `paths`: progress events, then exactly one `.done`. Cancelling the consuming
    /// task (or dropping the stream) cancels the backup.
    public func backup(paths: [URL], options: BackupOptions = BackupOptions()) -> AsyncThrowingStream<BackupEvent, Error> {
        let inner = self.inner
        return AsyncThrowingStream(bufferingPolicy: .bufferingNewest(64)) { continuation in
            let task = Task {
                do {
                    let relay = ProgressRelay { continuation.yield(.running($0)) }
                    let result = try await runJob { job in
                        try inner.backup(paths: paths.map(\.path), options: options, listener: relay, job: job)
                    }
                    continuation.yield(.done(result))
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    /// Backs up a chat app's data at `from` (a WeChat, WhatsApp or Telegram export or backup
    /// folder, or any folder): reads it into a searchable index and stores it exactly as it
    /// is. Throws `ChatVaultError.WrongDatabaseKey` when WeChat's database opens with none of
    /// the keys tried, `ChatVaultError.SourceUnreadable` when the data is damaged; nothing is
    /// written then.
    public func backupChats(from folder: URL, source: ChatSource = ChatSource(), options: BackupOptions = BackupOptions(), onProgress: @escaping @Sendable (ChatVaultFFI.Progress) -> Void = { _ in }) async throws -> ChatBackupResult {
        let inner = self.inner
        return try await runJob { job in
            try inner.backupSource(path: folder.path, source: source, options: options, listener: ProgressRelay(onProgress), job: job)
        }
    }

    /// The conversations in `snapshot` (read from the snapshot alone), or nil if it is not
    /// of a chat export.
    public func chats(snapshot: String = "latest") async throws -> ChatSummary? {
        let inner = self.inner
        return try await runJob { _ in try inner.chats(snapshot: snapshot) }
    }

    /// Messages of `snapshot` containing `query` (any script, emoji too), newest first.
    public func search(_ query: String, snapshot: String = "latest", conversation: String? = nil, limit: UInt32 = 50, workDir: URL? = nil) async throws -> [ChatMessage] {
        let inner = self.inner
        return try await runJob { _ in
            try inner.search(snapshot: snapshot, query: query, conversation: conversation, limit: limit, workDir: workDir?.path)
        }
    }

    /// Writes the chats of `snapshot` into `out` (new, empty, or an earlier export) as a
    /// static HTML site that opens in any browser without a network (or JSON, or text, by
    /// `options.format`), with the photos and videos it shows copied beside it. The site
    /// speaks the device's language (`Locale.current`) unless `options.locale` names another.
    public func exportChats(to out: URL, snapshot: String = "latest", options: ExportOptions = ExportOptions(format: .html), onProgress: @escaping @Sendable (ChatVaultFFI.Progress) -> Void = { _ in }) async throws -> ExportResult {
        let inner = self.inner
        var localized = options
        if localized.locale == nil {
            localized.locale = Locale.current.identifier
        }
        let chosen = localized
        return try await runJob { job in
            try inner.exportChats(snapshot: snapshot, out: out.path, options: chosen, listener: ProgressRelay(onProgress), job: job)
        }
    }

    /// All snapshots, oldest first.
    public func snapshots() async throws -> [SnapshotInfo] {
        let inner = self.inner
        return try await runJob { _ in try inner.snapshots() }
    }

    /// Restores `snapshot` (an id, id prefix or "latest") into `target`.
    public func restore(snapshot: String, target: URL, include: [String] = [], onProgress: @escaping @Sendable (ChatVaultFFI.Progress) -> Void = { _ in }) async throws -> RestoreSummary {
        let inner = self.inner
        return try await runJob { job in
            try inner.restore(snapshot: snapshot, target: target.path, include: include, listener: ProgressRelay(onProgress), job: job)
        }
    }

    /// Verifies the repository, reading back `readDataPercent` % of the data.
    public func check(readDataPercent: Double = 0) async throws -> CheckReport {
        let inner = self.inner
        return try await runJob { job in try inner.check(readDataPercent: readDataPercent, listener: nil, job: job) }
    }

    /// Applies `policy` and deletes data no snapshot needs. Returns the snapshots removed.
    public func forgetAndPrune(policy: RetentionPolicy) async throws -> UInt32 {
        let inner = self.inner
        return try await runJob { job in try inner.forgetAndPrune(policy: policy, job: job) }
    }

    /// Removes the snapshots named by `ids` (ids or unique prefixes; a damaged snapshot too),
    /// then deletes data nothing uses. Nothing is removed when one id matches no snapshot.
    /// Returns the ids removed.
    public func forgetSnapshots(_ ids: [String]) async throws -> [String] {
        let inner = self.inner
        return try await runJob { job in try inner.forgetSnapshots(ids: ids, job: job) }
    }

    /// Removes `conversation`'s archived messages (those the phone no longer has, kept by
    /// earlier backups) sent before `before` (nil: all of them) and the media only they
    /// used, from every snapshot, then deletes their data. With `dryRun`, only counts.
    /// Messages a snapshot's backed-up export still holds stay: the result's
    /// `heldByExports` names those snapshots (forgetting them removes those messages).
    public func purgeArchive(conversation: String, before: Date? = nil, dryRun: Bool = false, workDir: URL? = nil) async throws -> ArchivePurge {
        let inner = self.inner
        let beforeMs = before.map { Int64(($0.timeIntervalSince1970 * 1000).rounded(.down)) }
        return try await runJob { job in
            try inner.purgeArchive(conversation: conversation, beforeMs: beforeMs, dryRun: dryRun, workDir: workDir?.path, job: job)
        }
    }

    /// Sizes and ratios.
    public func stats() async throws -> RepoStats {
        let inner = self.inner
        return try await runJob { _ in try inner.stats() }
    }

    /// Replaces the password this repository was opened with.
    public func changePassword(_ newPassword: String) async throws {
        let inner = self.inner
        try await runJob { _ in try inner.changePassword(newPassword: newPassword) }
    }

    /// A new recovery key, to show the user once.
    public func newRecoveryKey() async throws -> String {
        let inner = self.inner
        return try await runJob { _ in try inner.newRecoveryKey() }
    }
}

/// Backup plans, and the runner a background task calls.
public final class BackupScheduler: Sendable {
    private let inner: Scheduler

    init(_ inner: Scheduler) {
        self.inner = inner
    }

    /// Adds `plan`; its repository `password` goes to the secret store.
    public func add(_ plan: Plan, password: String, now: Date = Date()) async throws -> Int64 {
        let inner = self.inner
        return try await runJob { _ in
            try inner.addPlan(plan: plan, password: password, nowMs: Int64(now.timeIntervalSince1970 * 1000))
        }
    }

    /// All plans with their state.
    public func plans() async throws -> [PlanState] {
        let inner = self.inner
        return try await runJob { _ in try inner.plans() }
    }

    /// Removes a plan by name (its password leaves the secret store).
    public func remove(_ name: String) async throws {
        let inner = self.inner
        try await runJob { _ in try inner.removePlan(plan: name) }
    }

    /// A plan's runs, newest first.
    public func history(plan: String, limit: UInt32 = 50) async throws -> [PlanRun] {
        let inner = self.inner
        return try await runJob { _ in try inner.history(plan: plan, limit: limit) }
    }

    /// Runs every due plan whose conditions hold.
    public func runDue(conditions: DeviceConditions, now: Date = Date(), onProgress: @escaping @Sendable (ChatVaultFFI.Progress) -> Void = { _ in }) async throws -> [PlanRun] {
        let inner = self.inner
        return try await runJob { job in
            try inner.runDue(nowMs: Int64(now.timeIntervalSince1970 * 1000), conditions: conditions, listener: ProgressRelay(onProgress), job: job)
        }
    }

    /// Every plan's health.
    public func health(now: Date = Date()) async throws -> [PlanHealth] {
        let inner = self.inner
        return try await runJob { _ in try inner.health(nowMs: Int64(now.timeIntervalSince1970 * 1000)) }
    }
}
