// Finds PCs running `chatvault serve` with Bonjour. Needs NSLocalNetworkUsageDescription
// and NSBonjourServices = [_chatvault._tcp] in Info.plist.
import Foundation
import Network

/// A PC offering to receive backups.
public struct DiscoveredPc: Sendable, Hashable {
    public let name: String
    /// `host:port` (IPv6 in brackets), what `PcPairing.pairByCode(address:…)` takes.
    public let endpoint: String
    public let fingerprint: String?
}

/// `host:port` of a resolved endpoint, IPv6 in brackets (without a zone), or nil.
func hostPort(_ endpoint: NWEndpoint) -> String? {
    guard case let .hostPort(host, port) = endpoint else { return nil }
    switch host {
    case .ipv4(let a): return "\(a):\(port.rawValue)"
    case .ipv6(let a):
        let text = "\(a)".split(separator: "%").first.map(String.init) ?? "\(a)"
        return "[\(text)]:\(port.rawValue)"
    case .name(let n, _): return "\(n):\(port.rawValue)"
    @unknown default: return nil
    }
}

/// Resolves a Bonjour service to `host:port`: a browse result names a service, not an
/// address, so a TCP connection is opened to it and its remote endpoint read once ready.
func resolve(_ service: NWEndpoint, queue: DispatchQueue, done: @escaping @Sendable (String?) -> Void) {
    let connection = NWConnection(to: service, using: .tcp)
    let once = Once()
    connection.stateUpdateHandler = { state in
        switch state {
        case .ready:
            let address = connection.currentPath?.remoteEndpoint.flatMap(hostPort)
            if once.take() { done(address) }
            connection.cancel()
        case .failed, .cancelled:
            if once.take() { done(nil) }
        case .waiting:
            connection.cancel()
        default: break
        }
    }
    connection.start(queue: queue)
}

final class Once: @unchecked Sendable {
    private let lock = NSLock()
    private var taken = false
    func take() -> Bool {
        lock.lock(); defer { lock.unlock() }
        if taken { return false }
        taken = true
        return true
    }
}

/// The PCs resolved so far by service name. Only touched on the browser's serial queue, which
/// is what makes sharing it between the browser's handlers safe.
private final class ResolvedPcs: @unchecked Sendable {
    var byName: [String: DiscoveredPc] = [:]
}

/// Browses `_chatvault._tcp` until the stream's consumer stops: each element is every PC
/// currently found and resolved (a PC that leaves the network leaves the list).
public func discoverPcs() -> AsyncStream<[DiscoveredPc]> {
    AsyncStream { continuation in
        let queue = DispatchQueue(label: "org.chatvault.discovery")
        let browser = NWBrowser(for: .bonjourWithTXTRecord(type: "_chatvault._tcp", domain: nil), using: .tcp)
        let resolved = ResolvedPcs()
        browser.browseResultsChangedHandler = { results, _ in
            var present = Set<String>()
            for result in results {
                guard case let .service(name, _, _, _) = result.endpoint else { continue }
                present.insert(name)
                if resolved.byName[name] != nil { continue }
                var fingerprint: String?
                if case let .bonjour(txt) = result.metadata {
                    fingerprint = txt.dictionary["fp"]
                }
                resolve(result.endpoint, queue: queue) { address in
                    queue.async {
                        guard let address else { return }
                        resolved.byName[name] = DiscoveredPc(name: name, endpoint: address, fingerprint: fingerprint)
                        continuation.yield(Array(resolved.byName.values))
                    }
                }
            }
            let before = resolved.byName.count
            resolved.byName = resolved.byName.filter { present.contains($0.key) }
            if resolved.byName.count != before { continuation.yield(Array(resolved.byName.values)) }
        }
        browser.stateUpdateHandler = { state in
            if case .failed = state { continuation.finish() }
        }
        continuation.onTermination = { _ in browser.cancel() }
        browser.start(queue: queue)
    }
}
