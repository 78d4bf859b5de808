// A repository in a folder the user picked in the Files app (iCloud Drive, a USB drive, a
// file provider), reached through a security-scoped URL.
import ChatVaultFFI
import Foundation

public final class FolderStorage: Storage, @unchecked Sendable {
    private let root: URL
    private let scoped: Bool

    /// `root` comes from a document picker (or a resolved bookmark).
    public init(root: URL) {
        self.root = root
        scoped = root.startAccessingSecurityScopedResource()
    }

    deinit {
        if scoped { root.stopAccessingSecurityScopedResource() }
    }

    private func directory(_ kind: ObjectKind, _ name: String) -> URL {
        switch kind {
        case .config: return root
        case .key: return root.appendingPathComponent("keys")
        case .snapshot: return root.appendingPathComponent("snapshots")
        case .index: return root.appendingPathComponent("index")
        case .pack: return root.appendingPathComponent("data").appendingPathComponent(String(name.prefix(2)))
        case .lock: return root.appendingPathComponent("locks")
        }
    }

    private func url(_ kind: ObjectKind, _ name: String) -> URL {
        directory(kind, name).appendingPathComponent(name)
    }

    /// Whether `u` exists, counting an iCloud item that is not downloaded (only its
    /// `.NAME.icloud` placeholder is on the device): a coordinated read downloads it.
    private func exists(_ u: URL) -> Bool {
        if FileManager.default.fileExists(atPath: u.path) { return true }
        #if canImport(Darwin)
        let placeholder = u.deletingLastPathComponent().appendingPathComponent(".\(u.lastPathComponent).icloud")
        return FileManager.default.fileExists(atPath: placeholder.path)
        #else
        return false
        #endif
    }

    /// Runs `body` under a coordinated read of `u` (on Apple platforms: NSFileCoordinator,
    /// which waits for a file provider, downloading an iCloud item first). Linux has no
    /// file coordination (nor file providers): there `body` runs directly.
    private func reading<T>(_ u: URL, _ body: (URL) throws -> T) throws -> T {
        #if canImport(Darwin)
        var coordinationError: NSError?
        var result: Result<T, Error>?
        NSFileCoordinator(filePresenter: nil).coordinate(readingItemAt: u, options: [], error: &coordinationError) { url in
            result = Result { try body(url) }
        }
        if let coordinationError { throw coordinationError }
        guard let result else { throw CocoaError(.fileReadUnknown) }
        return try result.get()
        #else
        return try body(u)
        #endif
    }

    /// Runs `body` under a coordinated write replacing `u` (see `reading`).
    private func writing(_ u: URL, _ body: (URL) throws -> Void) throws {
        #if canImport(Darwin)
        var coordinationError: NSError?
        var failure: Error?
        NSFileCoordinator(filePresenter: nil).coordinate(writingItemAt: u, options: .forReplacing, error: &coordinationError) { url in
            do { try body(url) } catch { failure = error }
        }
        if let coordinationError { throw coordinationError }
        if let failure { throw failure }
        #else
        try body(u)
        #endif
    }

    private func io<T>(_ what: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch {
            throw ChatVaultError.Storage(details: "\(what): \(error.localizedDescription)")
        }
    }

    public func location() throws -> String {
        root.path
    }

    public func put(kind: ObjectKind, name: String, data: Data) throws {
        try io("put \(name)") {
            try FileManager.default.createDirectory(at: directory(kind, name), withIntermediateDirectories: true)
            try writing(url(kind, name)) { try data.write(to: $0, options: .atomic) }
        }
    }

    public func get(kind: ObjectKind, name: String) throws -> Data? {
        let u = url(kind, name)
        guard exists(u) else { return nil }
        return try io("get \(name)") { try reading(u) { try Data(contentsOf: $0) } }
    }

    public func getRange(kind: ObjectKind, name: String, offset: UInt64, length: UInt64) throws -> Data? {
        let u = url(kind, name)
        guard exists(u) else { return nil }
        return try io("get \(name)") {
            try reading(u) { file in
                let handle = try FileHandle(forReadingFrom: file)
                defer { try? handle.close() }
                try handle.seek(toOffset: offset)
                return try handle.read(upToCount: Int(length)) ?? Data()
            }
        }
    }

    public func size(kind: ObjectKind, name: String) throws -> UInt64? {
        let u = url(kind, name)
        guard exists(u) else { return nil }
        return try io("stat \(name)") {
            try reading(u) { file in
                (try FileManager.default.attributesOfItem(atPath: file.path)[.size] as? NSNumber)?.uint64Value
            }
        }
    }

    public func list(kind: ObjectKind) throws -> [ObjectEntry] {
        let fm = FileManager.default
        var dirs: [URL]
        switch kind {
        case .pack:
            let data = root.appendingPathComponent("data")
            dirs = ((try? fm.contentsOfDirectory(at: data, includingPropertiesForKeys: nil)) ?? [])
        default:
            dirs = [directory(kind, "")]
        }
        return try io("list \(kind)") {
            var out: [String: UInt64] = [:]
            for dir in dirs {
                for file in (try? fm.contentsOfDirectory(at: dir, includingPropertiesForKeys: [.fileSizeKey, .isRegularFileKey])) ?? [] {
                    let values = try file.resourceValues(forKeys: [.fileSizeKey, .isRegularFileKey])
                    guard values.isRegularFile == true else { continue }
                    var name = file.lastPathComponent
                    var size = UInt64(values.fileSize ?? 0)
                    if name.hasPrefix(".") {
                        // An iCloud item the system evicted: only its placeholder is here. It is
                        // listed as the object it stands for (a read downloads it), so the
                        // repository does not look damaged; other hidden files are not objects.
                        guard let item = FolderStorage.evictedItem(file), out[item.name] == nil else { continue }
                        (name, size) = item
                    }
                    if kind == .config && name != "config" { continue }
                    out[name] = size
                }
            }
            return out.map { ObjectEntry(name: $0.key, size: $0.value) }.sorted { $0.name < $1.name }
        }
    }

    /// The object an iCloud placeholder stands for: `.NAME.icloud` is NAME, its size the
    /// placeholder's property list records (`NSURLFileSizeKey`; 0 if it records none); nil for
    /// any other file.
    public static func evictedItem(_ placeholder: URL) -> (name: String, size: UInt64)? {
        let file = placeholder.lastPathComponent
        guard file.hasPrefix("."), file.hasSuffix(".icloud"), file.count > ".icloud".count + 1 else { return nil }
        let name = String(file.dropFirst().dropLast(".icloud".count))
        let info = (try? Data(contentsOf: placeholder))
            .flatMap { try? PropertyListSerialization.propertyList(from: $0, options: [], format: nil) } as? [String: Any]
        let size = (info?["NSURLFileSizeKey"] as? NSNumber)?.uint64Value ?? 0
        return (name, size)
    }

    public func delete(kind: ObjectKind, name: String) throws {
        let u = url(kind, name)
        guard exists(u) else { return }
        try io("delete \(name)") {
            #if canImport(Darwin)
            var coordinationError: NSError?
            var failure: Error?
            NSFileCoordinator(filePresenter: nil).coordinate(writingItemAt: u, options: .forDeleting, error: &coordinationError) { file in
                do { try FileManager.default.removeItem(at: file) } catch { failure = error }
            }
            if let coordinationError { throw coordinationError }
            if let failure { throw failure }
            #else
            try FileManager.default.removeItem(at: u)
            #endif
        }
    }
}
