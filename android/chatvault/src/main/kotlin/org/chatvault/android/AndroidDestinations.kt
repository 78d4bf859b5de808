// Where scheduled plans' backups go on Android. Android-only (needs the Android SDK to compile).
package org.chatvault.android

import android.content.Context
import android.net.Uri
import org.chatvault.ffi.DestinationResolver
import org.chatvault.ffi.RemoteAccess
import org.chatvault.ffi.Storage

/**
 * Opens a scheduled plan's destination: a `content://` tree the user picked with
 * `ACTION_OPEN_DOCUMENT_TREE` (take a persistable permission with
 * `ContentResolver.takePersistableUriPermission`, or the nightly run loses access) as
 * [SafStorage]; a network location (`s3://…`, `webdav+https://…`, a paired PC) with the
 * credentials [remoteAccess] returns for it from the app's keystore; anything else as a path.
 */
class AndroidDestinations(
    context: Context,
    private val remoteAccess: (String) -> RemoteAccess? = { null },
) : DestinationResolver {
    private val context = context.applicationContext

    override fun storage(destination: String): Storage? =
        if (destination.startsWith("content://")) SafStorage(context, Uri.parse(destination)) else null

    override fun remoteAccess(destination: String): RemoteAccess? = remoteAccess.invoke(destination)
}

/**
 * Implemented by the app's `Application` to tell [BackupWorker] how to open its plans'
 * destinations (for network credentials); without it, [AndroidDestinations] with none.
 */
interface DestinationsProvider {
    /** The resolver scheduled runs use. */
    fun destinations(): DestinationResolver
}
