// Tests of the Swift package (module ChatVault) against the real native engine, on Linux:
// built and run by scripts/test-swift.sh with Debian's Swift 6 (language mode 6, strict
// concurrency) in a trixie chroot, linked with the real libchatvault_ffi.so. No mocks.
import ChatVault
import ChatVaultFFI
import Foundation

let password = "swift test password"

/// Prints a line at once (stdout to a pipe is otherwise buffered until exit).
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

struct Failure: Error, CustomStringConvertible {
    let description: String
}

func check(_ condition: Bool, _ message: @autoclosure () -> String) throws {
    if !condition { throw Failure(description: message()) }
}

/// Folders the tests made; removed at the end.
nonisolated(unsafe) var madeDirs: [URL] = []

func tempDir(_ prefix: String) throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    madeDirs.append(dir)
    return dir
}

/// A chat-export-like tree: unicode names, nested folders, an empty file, random media.
func makeTree(_ root: URL, files: Int, size: Int, seed: UInt64) throws -> URL {
    var state = seed &+ 0x9E37_79B9_7F4A_7C15
    func next() -> UInt64 {  // splitmix64: reproducible, incompressible bytes
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    let fm = FileManager.default
    try fm.createDirectory(at: root, withIntermediateDirectories: true)
    try Data().write(to: root.appendingPathComponent("empty.txt"))
    try Data(String(repeating: "你好 👋 hello\n", count: 500).utf8).write(to: root.appendingPathComponent("聊天记录.txt"))
    let names = ["微信", "Ünïcødé", "emoji 😀", "plain"]
    for i in 0..<files {
        let dir = root.appendingPathComponent(names[i % names.count]).appendingPathComponent("sub\(i % 3)")
        try fm.createDirectory(at: dir, withIntermediateDirectories: true)
        var bytes = [UInt8](repeating: 0, count: size)
        for j in stride(from: 0, to: size, by: 8) {
            var word = next()
            for k in j..<min(j + 8, size) {
                bytes[k] = UInt8(truncatingIfNeeded: word)
                word >>= 8
            }
        }
        try Data(bytes).write(to: dir.appendingPathComponent("media-\(i).jpg"))
    }
    return root
}

func files(under root: URL) -> [String: Data] {
    var out: [String: Data] = [:]
    let base = root.standardizedFileURL.path
    guard let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey]) else { return out }
    for case let url as URL in walker {
        guard (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true else { continue }
        let path = url.standardizedFileURL.path
        out[String(path.dropFirst(base.count))] = try? Data(contentsOf: url)
    }
    return out
}

func assertSameTree(_ expected: URL, _ actual: URL) throws {
    let a = files(under: expected)
    let b = files(under: actual)
    try check(a.keys.sorted() == b.keys.sorted(), "file lists differ: \(a.keys.sorted()) vs \(b.keys.sorted())")
    for (name, data) in a {
        try check(b[name] == data, "content differs: \(name)")
    }
}

// MARK: - the tests

func backupStreamAndRestoreByteIdentical() async throws {
    let work = try tempDir("cv-swift")
    let source = try makeTree(work.appendingPathComponent("export"), files: 12, size: 50_000, seed: 1)
    let vault = Vault(stateDirectory: work.appendingPathComponent("state"))
    let repo = try await vault.create(folder: work.appendingPathComponent("repo"), password: password)
    var progress: [ChatVaultFFI.Progress] = []
    var done: BackupResult?
    for try await event in repo.backup(paths: [source]) {
        switch event {
        case .running(let p): progress.append(p)
        case .done(let result):
            try check(done == nil, "two .done events")
            done = result
        }
    }
    guard let done else { throw Failure(description: "no .done event") }
    try check(done.snapshot.files == 14, "files: \(done.snapshot.files)")
    try check(!progress.isEmpty, "no progress")
    let backup = progress.filter { $0.phase == .backup }
    try check(zip(backup, backup.dropFirst()).allSatisfy { $1.bytesDone >= $0.bytesDone }, "progress went backwards")
    try check(progress.last?.phase == .finished && progress.last?.fraction == 1.0, "last progress: \(String(describing: progress.last))")

    let target = work.appendingPathComponent("restored")
    let restoreEvents = Counter()
    let summary = try await repo.restore(snapshot: "latest", target: target) { _ in restoreEvents.add() }
    try assertSameTree(source, target.appendingPathComponent("export"))
    try check(restoreEvents.value > 0, "restore reported no progress")
    say("  \(progress.count) backup progress events, restored \(summary.files) files byte-identical")
    let snapshots = try await repo.snapshots()
    try check(snapshots.count == 1, "snapshots: \(snapshots.count)")
    let report = try await repo.check(readDataPercent: 100)
    try check(report.errors.isEmpty && report.packsRead > 0, "check: \(report)")
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func add() { lock.lock(); n += 1; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return n }
}

func wrongPasswordIsTyped() async throws {
    let work = try tempDir("cv-swift")
    let vault = Vault(stateDirectory: work.appendingPathComponent("state"))
    _ = try await vault.create(folder: work.appendingPathComponent("repo"), password: password)
    do {
        _ = try await vault.open(folder: work.appendingPathComponent("repo"), password: "not the password")
        throw Failure(description: "opened with a wrong password")
    } catch ChatVaultError.WrongPassword {
        // expected
    }
    do {
        _ = try await vault.open(folder: work.appendingPathComponent("nothing-here"), password: password)
        throw Failure(description: "opened a missing repository")
    } catch ChatVaultError.RepositoryNotFound(let location) {
        try check(location.contains("nothing-here"), location)
    }
}

/// A Storage in Swift around FolderStorage whose pack uploads wait at a gate: the engine is
/// certainly mid-backup when the test cancels, however fast the machine.
final class GatedStorage: Storage, @unchecked Sendable {
    let inner: FolderStorage
    let gate = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var open = false

    init(_ root: URL) { inner = FolderStorage(root: root) }

    func release() {
        lock.lock(); defer { lock.unlock() }
        if !open { open = true; gate.signal() }
    }

    func location() throws -> String { try inner.location() }
    func put(kind: ObjectKind, name: String, data: Data) throws {
        if kind == .pack {
            gate.wait()
            gate.signal()  // once open, stays open
        }
        try inner.put(kind: kind, name: name, data: data)
    }
    func get(kind: ObjectKind, name: String) throws -> Data? { try inner.get(kind: kind, name: name) }
    func getRange(kind: ObjectKind, name: String, offset: UInt64, length: UInt64) throws -> Data? {
        try inner.getRange(kind: kind, name: name, offset: offset, length: length)
    }
    func size(kind: ObjectKind, name: String) throws -> UInt64? { try inner.size(kind: kind, name: name) }
    func list(kind: ObjectKind) throws -> [ObjectEntry] { try inner.list(kind: kind) }
    /// Yields each time the engine removes a lock: it is done with the repository.
    let (locksReleased, lockReleased) = AsyncStream<Void>.makeStream()
    let lockDeletions = Counter()
    func delete(kind: ObjectKind, name: String) throws {
        try inner.delete(kind: kind, name: name)
        if kind == .lock {
            lockDeletions.add()
            lockReleased.yield()
        }
    }
}

/// Holds the engine's thread until the test opens it.
final class Gate: @unchecked Sendable {
    private let semaphore = DispatchSemaphore(value: 0)
    private let taken = Counter()
    /// True the first time only.
    func first() -> Bool {
        taken.add()
        return taken.value == 1
    }
    func wait() { semaphore.wait() }
    func release() { semaphore.signal() }
}

func cancellingTheTaskCancelsTheEngine() async throws {
    let work = try tempDir("cv-swift")
    let source = try makeTree(work.appendingPathComponent("big"), files: 60, size: 1_000_000, seed: 2)
    let vault = Vault(stateDirectory: work.appendingPathComponent("state"))
    let repo = try await vault.create(folder: work.appendingPathComponent("repo"), password: password)
    // The engine is held in its first progress report with bytes done until the test has
    // cancelled: the job is certainly running when it is cancelled, however fast the machine.
    let (midway, reached) = AsyncStream<Void>.makeStream()
    let storage = Gate()
    let task = Task {
        try await repo.backupChats(from: source) { p in
            if p.bytesDone > 0, storage.first() {
                reached.yield()
                storage.wait()
            }
        }
    }
    var it = midway.makeAsyncIterator()
    _ = await it.next()
    // Other calls do not wait for the running backup.
    try check(try await repo.snapshots().isEmpty, "a snapshot before the backup ended")
    let cancelAt = DispatchTime.now()
    task.cancel()
    storage.release()
    let outcome = await task.result
    let ms = Double(DispatchTime.now().uptimeNanoseconds - cancelAt.uptimeNanoseconds) / 1e6
    say("  Task.cancel reached the engine, which returned in \(String(format: "%.1f", ms)) ms")
    switch outcome {
    case .success: throw Failure(description: "the cancelled backup completed")
    case .failure(let error): try check(error is CancellationError, "outcome: \(error)")
    }
    try check(ms < 1000, "cancellation took \(ms) ms")
    try check(try await repo.snapshots().isEmpty, "a cancelled backup wrote a snapshot")
    let report = try await repo.check(readDataPercent: 100)
    try check(report.errors.isEmpty, "check after cancel: \(report.errors)")
    // The next run completes.
    let result = try await repo.backupChats(from: source)
    try check(result.backup.snapshot.files == 62, "files \(result.backup.snapshot.files)")
}

func cancellingTheStreamsConsumerCancelsTheBackup() async throws {
    let work = try tempDir("cv-swift")
    let source = try makeTree(work.appendingPathComponent("big"), files: 60, size: 1_000_000, seed: 7)
    let storage = GatedStorage(work.appendingPathComponent("repo"))
    let vault = Vault(stateDirectory: work.appendingPathComponent("state"))
    let repo = try await vault.create(storage: storage, password: password)
    var released = storage.locksReleased.makeAsyncIterator()
    let locksBefore = storage.lockDeletions.value
    let (midway, reached) = AsyncStream<Void>.makeStream()
    let consumer = Task {
        var events = 0
        for try await event in repo.backup(paths: [source]) {
            events += 1
            if case .running = event { reached.yield() }  // the engine has started
        }
        return events
    }
    var it = midway.makeAsyncIterator()
    _ = await it.next()
    consumer.cancel()
    storage.release()
    // An AsyncThrowingStream ends (returns nil) for a cancelled consumer; the stream's
    // termination cancels the engine, which then releases its lock.
    _ = try await consumer.value
    while storage.lockDeletions.value <= locksBefore { _ = await released.next() }
    try check(try await repo.snapshots().isEmpty, "the backup went on after its consumer was cancelled")
    try check(try await repo.check(readDataPercent: 100).errors.isEmpty, "check after a cancelled consumer")
    var files: UInt64 = 0
    for try await event in repo.backup(paths: [source]) {
        if case .done(let result) = event { files = result.snapshot.files }
    }
    try check(files == 62, "the next backup: files \(files)")
}

func folderStorageIsARealDestination() async throws {
    let work = try tempDir("cv-swift")
    let source = try makeTree(work.appendingPathComponent("export"), files: 8, size: 30_000, seed: 3)
    let root = work.appendingPathComponent("picked-folder")
    let vault = Vault(stateDirectory: work.appendingPathComponent("state"))
    let repo = try await vault.create(storage: FolderStorage(root: root), password: password)
    for try await _ in repo.backup(paths: [source], options: BackupOptions(tags: ["swift"])) {}
    let fm = FileManager.default
    try check(fm.fileExists(atPath: root.appendingPathComponent("config").path), "config not written through FolderStorage")
    try check(fm.fileExists(atPath: root.appendingPathComponent("data").path), "no data folder")
    // Reopen through FolderStorage and restore; the same folder opens natively too.
    let again = try await vault.open(storage: FolderStorage(root: root), password: password)
    let target = work.appendingPathComponent("restored")
    _ = try await again.restore(snapshot: "latest", target: target)
    try assertSameTree(source, target.appendingPathComponent("export"))
    try check(try await again.snapshots().first?.tags == ["swift"], "tags")
    do {
        _ = try await vault.open(storage: FolderStorage(root: root), password: "wrong")
        throw Failure(description: "opened FolderStorage with a wrong password")
    } catch ChatVaultError.WrongPassword {}
    let native = try await vault.open(folder: root, password: password)
    try check(try await native.check(readDataPercent: 100).errors.isEmpty, "native check")
    // iCloud evicts a file it keeps in the cloud, leaving `.NAME.icloud` (a property list
    // naming its size): the object is still listed, under its name and size. (The placeholder
    // is made here as iCloud documents it; iCloud itself cannot run on Linux.)
    let storage = FolderStorage(root: root)
    let before = try storage.list(kind: .snapshot)
    try check(before.count == 1, "\(before)")
    let snapshots = root.appendingPathComponent("snapshots")
    let real = snapshots.appendingPathComponent(before[0].name)
    let info: [String: Any] = ["NSURLNameKey": before[0].name, "NSURLFileSizeKey": NSNumber(value: before[0].size),
                               "NSURLFileResourceTypeKey": "NSURLFileResourceTypeRegular"]
    let plist = try PropertyListSerialization.data(fromPropertyList: info, format: .binary, options: 0)
    try plist.write(to: snapshots.appendingPathComponent(".\(before[0].name).icloud"))
    try check(try storage.list(kind: .snapshot) == before, "listed twice while both are there")
    try FileManager.default.removeItem(at: real)
    let evicted = try storage.list(kind: .snapshot)
    try check(evicted == before, "an evicted snapshot is listed as \(evicted), not \(before)")
    try Data([1]).write(to: snapshots.appendingPathComponent(".DS_Store"))
    try check(try storage.list(kind: .snapshot) == before, "a hidden file is not an object")
}

final class MemorySecrets: SecretStore, @unchecked Sendable {
    private let lock = NSLock()
    private var map: [String: String] = [:]
    func get(key: String) throws -> String? { lock.lock(); defer { lock.unlock() }; return map[key] }
    func put(key: String, value: String) throws { lock.lock(); map[key] = value; lock.unlock() }
    func delete(key: String) throws { lock.lock(); map[key] = nil; lock.unlock() }
}

func theSchedulerRunsADuePlan() async throws {
    let work = try tempDir("cv-swift")
    let source = try makeTree(work.appendingPathComponent("export"), files: 3, size: 10_000, seed: 5)
    let secrets = MemorySecrets()
    let vault = Vault(stateDirectory: work.appendingPathComponent("state"))
    _ = try await vault.create(folder: work.appendingPathComponent("repo"), password: password)
    let scheduler = try vault.scheduler(secrets: secrets)
    let plan = Plan(name: "nightly", source: source.path, destination: work.appendingPathComponent("repo").path,
                    frequency: .daily, retention: RetentionPolicy())
    _ = try await scheduler.add(plan, password: password)
    try check(try secrets.get(key: "plan:nightly") == password, "password not in the secret store")
    // What BackgroundBackups reads off the device: a cellular (expensive) network is metered.
    let onData = deviceConditions(networkExpensive: true, networkConstrained: false, charging: true, lowPowerMode: false, idle: true)
    let skipped = try await scheduler.runDue(conditions: onData)
    try check(skipped.count == 1 && skipped[0].outcome == .skipped, "\(skipped)")
    let lowData = deviceConditions(networkExpensive: false, networkConstrained: true, charging: true, lowPowerMode: false, idle: true)
    try check(lowData.metered, "Low Data Mode is not metered")
    let wifi = deviceConditions(networkExpensive: false, networkConstrained: false, charging: true, lowPowerMode: false, idle: true)
    let ran = try await scheduler.runDue(conditions: wifi)
    try check(ran.count == 1 && ran[0].outcome == .success && ran[0].snapshotId != nil, "\(ran)")
    let health = try await scheduler.health()
    try check(health.count == 1 && health[0].warning == nil && health[0].lastError == nil, "\(health)")
    let history = try await scheduler.history(plan: "nightly").map(\.outcome)
    try check(history == [.success, .skipped], "history: \(history)")
    try check(try await scheduler.plans().map(\.plan.name) == ["nightly"], "plans")
    try await scheduler.remove("nightly")
    try check(try await scheduler.plans().isEmpty, "the plan was not removed")
}

/// Resolves one destination name to a folder, as an app resolves a bookmark the user picked
/// in the Files app; can be told to throw, as when the bookmark went stale.
final class PickedFolders: DestinationResolver, @unchecked Sendable {
    let folder: URL
    private let lock = NSLock()
    private var broken = false
    init(folder: URL) { self.folder = folder }
    func breakIt() { lock.lock(); broken = true; lock.unlock() }
    func storage(destination: String) throws -> Storage? {
        lock.lock(); defer { lock.unlock() }
        if broken { throw ChatVaultError.Internal(details: "the bookmark is stale") }
        return destination == "bookmark:picked" ? FolderStorage(root: folder) : nil
    }
    func remoteAccess(destination: String) throws -> RemoteAccess? { nil }
}

func aScheduledPlanBacksUpToAFolderTheAppProvides() async throws {
    let work = try tempDir("cv-swift")
    let source = try makeTree(work.appendingPathComponent("export"), files: 3, size: 10_000, seed: 23)
    let folder = work.appendingPathComponent("picked")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    let vault = Vault(stateDirectory: work.appendingPathComponent("state"))
    _ = try await vault.create(storage: FolderStorage(root: folder), password: password)
    let picked = PickedFolders(folder: folder)
    let scheduler = try vault.scheduler(secrets: MemorySecrets(), destinations: picked)
    _ = try await scheduler.add(Plan(name: "to-picked", source: source.path, destination: "bookmark:picked",
                                     frequency: .daily, retention: RetentionPolicy()), password: password)
    let wifi = deviceConditions(networkExpensive: false, networkConstrained: false, charging: true, lowPowerMode: false, idle: true)
    let ran = try await scheduler.runDue(conditions: wifi)
    try check(ran.count == 1 && ran[0].outcome == .success, "\(ran)")
    let repo = try await vault.open(storage: FolderStorage(root: folder), password: password)
    try check(try await repo.snapshots().count == 1, "no snapshot in the app's folder")
    picked.breakIt()
    let later = try await scheduler.runDue(conditions: wifi, now: Date().addingTimeInterval(2 * 86_400))
    try check(later.count == 1 && later[0].outcome == .failed && (later[0].error ?? "").contains("stale"), "\(later)")
}

func pruneStatsAndPasswordChange() async throws {
    let work = try tempDir("cv-swift")
    let source = try makeTree(work.appendingPathComponent("export"), files: 4, size: 20_000, seed: 9)
    let vault = Vault(stateDirectory: work.appendingPathComponent("state"))
    let folder = work.appendingPathComponent("repo")
    let repo = try await vault.create(folder: folder, password: password)
    for _ in 0..<2 { _ = try await repo.backupChats(from: source) }
    let stats = try await repo.stats()
    try check(stats.snapshots == 2, "stats: \(stats)")
    let removed = try await repo.forgetAndPrune(policy: RetentionPolicy(keepLast: 1))
    try check(removed == 1, "forgetAndPrune removed \(removed)")
    try check(try await repo.snapshots().count == 1, "snapshots after prune")
    // By id: an unknown one removes nothing; the real one goes.
    do {
        _ = try await repo.forgetSnapshots(["ffffffff"])
        throw Failure(description: "an unknown id was accepted")
    } catch ChatVaultError.InvalidArgument {}
    let last = try await repo.snapshots()[0].id
    let gone = try await repo.forgetSnapshots([String(last.prefix(8))])
    let left = try await repo.snapshots()
    try check(gone == [last] && left.isEmpty, "forgetSnapshots: \(gone)")
    try await repo.changePassword("a new password")
    do {
        _ = try await vault.open(folder: folder, password: password)
        throw Failure(description: "the old password still opens it")
    } catch ChatVaultError.WrongPassword {}
    _ = try await vault.open(folder: folder, password: "a new password")
}

/// Pairs with the real `chatvault serve` that scripts/test-swift.sh started (never skipped).
func aPhonePairsWithAPcAndBacksUpOverTheLan() async throws {
    let env = ProcessInfo.processInfo.environment
    guard let uri = env["CHATVAULT_PAIR_URI"], let address = env["CHATVAULT_PAIR_ADDRESS"] else {
        throw Failure(description: "no PC receiver: CHATVAULT_PAIR_URI / CHATVAULT_PAIR_ADDRESS unset (scripts/test-swift.sh sets them)")
    }
    let work = try tempDir("cv-swift-lan")
    let source = try makeTree(work.appendingPathComponent("export"), files: 6, size: 50_000, seed: 12)
    let identity = try PcPairing.newIdentity(deviceName: "Swift phone")
    try check(try PcPairing.fingerprint(identityPem: identity).count == 64, "fingerprint")
    let pairing = try await PcPairing.pairByQr(uri: uri, identityPem: identity, deviceName: "Swift phone")
    try check(pairing.folder == "swift-phone", "folder \(pairing.folder)")
    try check(pairing.location.hasPrefix("lan://\(address)?pin=\(pairing.receiverFingerprint)"), pairing.location)
    let vault = Vault(stateDirectory: work.appendingPathComponent("state"))
    let repo = try await vault.createOnPc(location: pairing.location, identityPem: identity, password: password)
    var files: UInt64 = 0
    for try await event in repo.backup(paths: [source]) {
        if case .done(let result) = event { files = result.snapshot.files }
    }
    try check(files == 8, "files \(files)")
    let again = try await vault.openOnPc(location: pairing.location, identityPem: identity, password: password)
    let target = work.appendingPathComponent("restored")
    _ = try await again.restore(snapshot: "latest", target: target)
    try assertSameTree(source, target.appendingPathComponent("export"))
    do {
        _ = try await vault.openOnPc(location: pairing.location, identityPem: try PcPairing.newIdentity(deviceName: "stranger"), password: password)
        throw Failure(description: "an unpaired identity reached the repository")
    } catch ChatVaultError.AccessDenied(let details) {
        try check(details.contains("pair"), details)
    }
    do {
        _ = try await PcPairing.pairByQr(uri: uri, identityPem: try PcPairing.newIdentity(deviceName: "second"), deviceName: "second")
        throw Failure(description: "a used pairing secret paired again")
    } catch ChatVaultError.AccessDenied(let details) {
        try check(details.contains("already used"), details)
    }
    do {
        _ = try await PcPairing.pairByCode(address: address, code: "000000", identityPem: try PcPairing.newIdentity(deviceName: "third"), deviceName: "third")
        throw Failure(description: "a wrong code paired")
    } catch ChatVaultError.AccessDenied(let details) {
        try check(details.contains("code"), details)
    }
}

func chatsAreReadSearchedAndExportedInTheLanguageAsked() async throws {
    guard let fixture = ProcessInfo.processInfo.environment["CHATVAULT_WECHAT_FIXTURE"] else {
        throw Failure(description: "CHATVAULT_WECHAT_FIXTURE is not set (scripts/test-swift.sh sets it)")
    }
    let work = try tempDir("cv-chats")
    let vault = Vault(stateDirectory: work.appendingPathComponent("state"))
    let repo = try await vault.create(folder: work.appendingPathComponent("repo"), password: password)
    let backed = try await repo.backupChats(from: URL(fileURLWithPath: fixture))
    let conversations = backed.chats?.conversations ?? []
    try check(conversations.count == 9, "conversations: \(conversations.count)")
    try check(conversations.contains { $0.name == "家庭群 👨‍👩‍👧" }, "group name")
    let hits = try await repo.search("晚上吃什么", workDir: work)
    try check(!hits.isEmpty && hits.allSatisfy { $0.text.contains("晚上吃什么") }, "search: \(hits.count)")
    // A Chinese locale gets a Chinese site; a caller's English one an English site.
    let zh = try await repo.exportChats(to: try tempDir("site-zh"), options: ExportOptions(format: .html, locale: "zh-Hans_CN"))
    let zhIndex = try String(contentsOfFile: zh.entry, encoding: .utf8)
    try check(zhIndex.contains("<html lang=\"zh-CN\">") && zhIndex.contains("9 个会话"), String(zhIndex.prefix(600)))
    let en = try await repo.exportChats(to: try tempDir("site-en"), options: ExportOptions(format: .html, locale: "en_US"))
    let enIndex = try String(contentsOfFile: en.entry, encoding: .utf8)
    try check(enIndex.contains("<html lang=\"en\">") && enIndex.contains("9 conversations"), String(enIndex.prefix(600)))
}

/// A WhatsApp text export of days `from...to` of January 2024, a message a day.
func whatsAppDays(_ dir: URL, _ from: Int, _ to: Int) throws {
    try? FileManager.default.removeItem(at: dir)
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let text = (from...to).map { d in String(format: "%02d/01/2024, 09:00 - Ann: note of day %d 你好\n", d, d) }.joined()
    try Data(text.utf8).write(to: dir.appendingPathComponent("WhatsApp Chat with Ann.txt"))
}

/// The archive through Swift, as in Kotlin: what the phone deleted stays, marked, until
/// purgeArchive removes what it names.
func theArchiveKeepsWhatThePhoneDeletedUntilPurged() async throws {
    let work = try tempDir("cv-archive")
    let export = work.appendingPathComponent("WhatsApp Ann")
    let vault = Vault(stateDirectory: work.appendingPathComponent("state"))
    let repo = try await vault.create(folder: work.appendingPathComponent("repo"), password: password)
    try whatsAppDays(export, 1, 20)
    _ = try await repo.backupChats(from: export, source: ChatSource(workDir: work.path))
    try whatsAppDays(export, 11, 25)
    let second = try await repo.backupChats(from: export, source: ChatSource(workDir: work.path))
    guard let chats = second.chats, let chat = chats.conversations.first else { throw Failure(description: "no chat summary") }
    try check(chats.messages == 25 && chats.archived == 10 && chat.archived == 10, "\(chats)")
    let gone = try await repo.search("note of day 3 ", workDir: work)
    try check(gone.count == 1 && gone[0].goneSinceMs != nil, "not marked as gone: \(gone)")
    let dry = try await repo.purgeArchive(conversation: chat.id, dryRun: true, workDir: work)
    try check(dry.messages == 10 && dry.snapshots.isEmpty, "dry run: \(dry)")
    let before = Calendar.current.date(from: DateComponents(year: 2024, month: 1, day: 6))!
    let purged = try await repo.purgeArchive(conversation: chat.id, before: before, workDir: work)
    try check(purged.messages == 5 && purged.snapshots.count == 1 && purged.heldByExports.count == 1, "\(purged)")
    try check(try await repo.chats()?.archived == 5, "archived after purge")
    try check(try await repo.search("note of day 3 ", workDir: work).isEmpty, "a purged message was found")
    try check(try await repo.search("note of day 7 ", workDir: work).count == 1, "an archived message not named was lost")
    do {
        _ = try await repo.purgeArchive(conversation: "nobody", workDir: work)
        throw Failure(description: "an unknown conversation was accepted")
    } catch ChatVaultError.InvalidArgument {}
}

func backgroundTaskIdentifiersAreUnderTheBundleId() async throws {
    let ids = BackgroundTaskIdentifiers(bundleIdentifier: "com.example.chats")
    try check(ids.processing == "com.example.chats.chatvault.backup", ids.processing)
    try check(ids.permitted == ["com.example.chats.chatvault.backup", "com.example.chats.chatvault.backup-now.*"], "\(ids.permitted)")
    let run = ids.continued("42")
    try check(run == "com.example.chats.chatvault.backup-now.42", run)
    for id in ids.permitted + [run] {
        try check(id.hasPrefix("com.example.chats."), "\(id) is not under the bundle id")
    }
}

let tests: [(String, () async throws -> Void)] = [
    ("back up through the AsyncThrowingStream and restore byte-identical; progress in order to 100 %", backupStreamAndRestoreByteIdentical),
    ("a wrong password is ChatVaultError.WrongPassword; a missing repository RepositoryNotFound", wrongPasswordIsTyped),
    ("Task.cancel reaches the engine within a second; the next backup completes", cancellingTheTaskCancelsTheEngine),
    ("cancelling the stream's consumer cancels the backup; the next one completes", cancellingTheStreamsConsumerCancelsTheBackup),
    ("FolderStorage is a real backup destination", folderStorageIsARealDestination),
    ("the scheduler skips on a metered network and runs on Wi-Fi", theSchedulerRunsADuePlan),
    ("a scheduled plan backs up to a folder the app provides; a throwing resolver fails the run, not the app", aScheduledPlanBacksUpToAFolderTheAppProvides),
    ("prune, stats and a password change, as in Kotlin", pruneStatsAndPasswordChange),
    ("a phone pairs with a real `chatvault serve` by QR and backs up over the LAN; strangers and used or wrong codes are AccessDenied", aPhonePairsWithAPcAndBacksUpOverTheLan),
    ("background task identifiers are under the app's bundle id (continued ones by wildcard)", backgroundTaskIdentifiersAreUnderTheBundleId),
    ("a WeChat export is read, searched and exported in the language asked for", chatsAreReadSearchedAndExportedInTheLanguageAsked),
    ("the archive keeps what the phone deleted, marked, until purgeArchive removes what it names", theArchiveKeepsWhatThePhoneDeletedUntilPurged),
]

// A hung test fails the run instead of hanging CI (a limit, never a synchronisation).
DispatchQueue.global().asyncAfter(deadline: .now() + 600) {
    say("FAIL: the Swift tests did not finish within 600 s")
    exit(1)
}
var failed = 0
for (name, test) in tests {
    do {
        try await test()
        say("PASS \(name)")
    } catch {
        failed += 1
        say("FAIL \(name): \(error)")
    }
}
for dir in madeDirs { try? FileManager.default.removeItem(at: dir) }
say("\(tests.count - failed) passed, \(failed) failed")
exit(failed == 0 ? 0 : 1)
