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
            try data.write(to: url(kind, name), options: .atomic)
        }
    }

    public func get(kind: ObjectKind, name: String) throws -> Data? {
        let u = url(kind, name)
        guard FileManager.default.fileExists(atPath: u.path) else { return nil }
        return try io("get \(name)") { try Data(contentsOf: u) }
    }

    public func getRange(kind: ObjectKind, name: String, offset: UInt64, length: UInt64) throws -> Data? {
        let u = url(kind, name)
        guard FileManager.default.fileExists(atPath: u.path) else { return nil }
        return try io("get \(name)") {
            let handle = try FileHandle(forReadingFrom: u)
            defer { try? handle.close() }
            try handle.seek(toOffset: offset)
            return try handle.read(upToCount: Int(length)) ?? Data()
        }
    }

    public func size(kind: ObjectKind, name: String) throws -> UInt64? {
        let u = url(kind, name)
        guard FileManager.default.fileExists(atPath: u.path) else { return nil }
        return try io("stat \(name)") {
            (try FileManager.default.attributesOfItem(atPath: u.path)[.size] as? NSNumber)?.uint64Value
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
            var out: [ObjectEntry] = []
            for dir in dirs {
                for file in (try? fm.contentsOfDirectory(at: dir, includingPropertiesForKeys: [.fileSizeKey, .isRegularFileKey])) ?? [] {
                    let values = try file.resourceValues(forKeys: [.fileSizeKey, .isRegularFileKey])
                    let name = file.lastPathComponent
                    guard values.isRegularFile == true, !name.hasPrefix(".") else { continue }
                    if kind == .config && name != "config" { continue }
                    out.append(ObjectEntry(name: name, size: UInt64(values.fileSize ?? 0)))
                }
            }
            return out
        }
    }

    public func delete(kind: ObjectKind, name: String) throws {
        let u = url(kind, name)
        guard FileManager.default.fileExists(atPath: u.path) else { return }
        try io("delete \(name)") { try FileManager.default.removeItem(at: u) }
    }
}
