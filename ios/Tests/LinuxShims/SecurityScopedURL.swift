// Compiled into the ChatVault module only by scripts/test-swift.sh (Swift on Linux): Linux's
// Foundation has no security-scoped URLs, which Apple platforms need for folders picked in
// the Files app. Not part of the shipped package.
#if os(Linux)
import Foundation

extension URL {
    /// Apple's security scope; on Linux every path is reachable as it is.
    func startAccessingSecurityScopedResource() -> Bool { false }

    func stopAccessingSecurityScopedResource() {}
}
#endif
