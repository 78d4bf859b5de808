// Phone → PC over Wi-Fi: pairing with a PC running `chatvault serve`.
// Imports nothing from android.*: it runs on a desktop JVM too, where the tests run.
package org.chatvault

import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.withContext
import org.chatvault.ffi.LanPairing
import org.chatvault.ffi.lanIdentityFingerprint
import org.chatvault.ffi.newLanIdentity
import org.chatvault.ffi.pairLanCode
import org.chatvault.ffi.pairLanUri

/**
 * Pairs this phone with a PC. The phone's identity is PEM text made once by [newIdentity]
 * and kept in the Keystore; the PC registers its certificate when pairing, and the phone
 * pins the PC's. Then [Vault.openOnPc] / [Vault.createOnPc] reach the phone's repository
 * on that PC. Failures: [org.chatvault.ffi.ChatVaultException.AccessDenied] (wrong or used
 * code, another PC on that address), [org.chatvault.ffi.ChatVaultException.Unreachable]
 * (not on the same network, a firewall, guest Wi-Fi isolating devices).
 */
object PcPairing {
    /** A new identity for this phone (PEM: certificate and private key). */
    fun newIdentity(deviceName: String): String = newLanIdentity(deviceName)

    /** The identity's fingerprint, to show beside the PC's. */
    fun fingerprint(identityPem: String): String = lanIdentityFingerprint(identityPem)

    /** Pairs by the QR code the PC shows (its `chatvault://pair?…` text). */
    suspend fun pairByQr(uri: String, identityPem: String, deviceName: String): LanPairing =
        withContext(Dispatchers.IO) { pairLanUri(uri, identityPem, deviceName) }

    /**
     * Pairs by the PC's [address] (`host:port`, from [org.chatvault.android.discoverPcs] or
     * typed) and the numeric [code] it shows.
     */
    suspend fun pairByCode(address: String, code: String, identityPem: String, deviceName: String): LanPairing =
        withContext(Dispatchers.IO) { pairLanCode(address, code, identityPem, deviceName) }
}
