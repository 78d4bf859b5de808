// Plan passwords encrypted with an AES-GCM key that never leaves the Android Keystore.
package org.chatvault.android

import android.content.Context
import java.io.File
import java.util.Properties
import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyProperties
import android.util.Base64
import java.security.KeyStore
import javax.crypto.Cipher
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import javax.crypto.spec.GCMParameterSpec
import org.chatvault.ffi.ChatVaultException
import org.chatvault.ffi.SecretStore

/**
 * A [SecretStore] in a file under [Context.getNoBackupFilesDir], each value sealed by a
 * Keystore key. The Keystore key never leaves the phone, so the sealed values must not
 * either: Auto Backup skips `noBackupFilesDir`, and a new phone restored from a backup asks
 * for the plan passwords again (`get` returns null) instead of failing every plan.
 */
class KeystoreSecretStore(context: Context) : SecretStore {
    private val file = File(context.noBackupFilesDir, "chatvault-secrets.properties")
    private val lock = Any()

    init {
        // Earlier versions kept the sealed values in SharedPreferences, which Auto Backup
        // copies to a new phone without the key that opens them: drop that copy.
        context.deleteSharedPreferences("chatvault-secrets")
    }

    private fun load(): Properties = Properties().apply { if (file.exists()) file.inputStream().use { load(it) } }

    private fun store(props: Properties) {
        // Written beside, synced, then renamed over: a crash never leaves half a file.
        val tmp = File(file.path + ".tmp")
        java.io.FileOutputStream(tmp).use { out ->
            props.store(out, null)
            out.fd.sync()
        }
        if (!tmp.renameTo(file)) throw ChatVaultException.Internal("cannot write ${file.name}")
    }

    private fun key(): SecretKey {
        val ks = KeyStore.getInstance("AndroidKeyStore").apply { load(null) }
        (ks.getKey(ALIAS, null) as? SecretKey)?.let { return it }
        val gen = KeyGenerator.getInstance(KeyProperties.KEY_ALGORITHM_AES, "AndroidKeyStore")
        gen.init(
            KeyGenParameterSpec.Builder(ALIAS, KeyProperties.PURPOSE_ENCRYPT or KeyProperties.PURPOSE_DECRYPT)
                .setBlockModes(KeyProperties.BLOCK_MODE_GCM)
                .setEncryptionPaddings(KeyProperties.ENCRYPTION_PADDING_NONE)
                .build(),
        )
        return gen.generateKey()
    }

    override fun get(key: String): String? {
        val stored = synchronized(lock) { load().getProperty(key) } ?: return null
        val ks = KeyStore.getInstance("AndroidKeyStore").apply { load(null) }
        // No key: the values came from another phone (or the key was removed); they can
        // never be opened here, so the secret is missing, not an internal error.
        if (!ks.containsAlias(ALIAS)) return null
        return try {
            val bytes = Base64.decode(stored, Base64.NO_WRAP)
            val cipher = Cipher.getInstance(TRANSFORMATION)
            cipher.init(Cipher.DECRYPT_MODE, key(), GCMParameterSpec(128, bytes, 0, 12))
            String(cipher.doFinal(bytes, 12, bytes.size - 12), Charsets.UTF_8)
        } catch (e: Exception) {
            throw ChatVaultException.Internal("the keystore could not unseal the secret $key: ${e.javaClass.simpleName}")
        }
    }

    override fun put(key: String, value: String) {
        val cipher = Cipher.getInstance(TRANSFORMATION)
        cipher.init(Cipher.ENCRYPT_MODE, key())
        val sealed = cipher.iv + cipher.doFinal(value.toByteArray(Charsets.UTF_8))
        synchronized(lock) { store(load().apply { setProperty(key, Base64.encodeToString(sealed, Base64.NO_WRAP)) }) }
    }

    override fun delete(key: String) {
        synchronized(lock) { store(load().apply { remove(key) }) }
    }

    private companion object {
        const val ALIAS = "chatvault-secrets"
        const val TRANSFORMATION = "AES/GCM/NoPadding"
    }
}
