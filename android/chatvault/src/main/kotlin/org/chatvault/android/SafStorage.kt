// A repository in any folder the user picks with the Storage Access Framework
// (ACTION_OPEN_DOCUMENT_TREE): SD cards, USB drives, Google Drive, Nextcloud, …
package org.chatvault.android

import android.content.ContentResolver
import android.content.Context
import android.net.Uri
import android.provider.DocumentsContract
import android.provider.DocumentsContract.Document
import java.io.FileInputStream
import java.io.IOException
import java.util.UUID
import org.chatvault.ffi.ChatVaultException
import org.chatvault.ffi.ObjectEntry
import org.chatvault.ffi.ObjectKind
import org.chatvault.ffi.Storage

/**
 * A [Storage] over a SAF tree URI (persist the permission with
 * `takePersistableUriPermission`). Writes go to a temporary document that is renamed into
 * place, so a reader never sees half an object where the provider renames atomically
 * (local and SD-card providers do; some cloud providers upload on close instead).
 */
class SafStorage(context: Context, private val tree: Uri) : Storage {
    private val resolver: ContentResolver = context.contentResolver
    private val rootId = DocumentsContract.getTreeDocumentId(tree)

    private fun docUri(id: String) = DocumentsContract.buildDocumentUriUsingTree(tree, id)

    private data class Child(val id: String, val name: String, val size: Long, val isDir: Boolean)

    private fun children(parentId: String): List<Child> {
        val uri = DocumentsContract.buildChildDocumentsUriUsingTree(tree, parentId)
        val cols = arrayOf(Document.COLUMN_DOCUMENT_ID, Document.COLUMN_DISPLAY_NAME, Document.COLUMN_SIZE, Document.COLUMN_MIME_TYPE)
        return resolver.query(uri, cols, null, null, null)?.use { c ->
            generateSequence { if (c.moveToNext()) Child(c.getString(0), c.getString(1), c.getLong(2), c.getString(3) == Document.MIME_TYPE_DIR) else null }.toList()
        } ?: emptyList()
    }

    private fun child(parentId: String, name: String) = children(parentId).firstOrNull { it.name == name }

    private fun dirPath(kind: ObjectKind, name: String): List<String> = when (kind) {
        ObjectKind.CONFIG -> emptyList()
        ObjectKind.KEY -> listOf("keys")
        ObjectKind.SNAPSHOT -> listOf("snapshots")
        ObjectKind.INDEX -> listOf("index")
        ObjectKind.PACK -> listOf("data", name.take(2))
        ObjectKind.LOCK -> listOf("locks")
    }

    private fun dirId(kind: ObjectKind, name: String, create: Boolean): String? {
        var id = rootId
        for (part in dirPath(kind, name)) {
            id = child(id, part)?.id
                ?: if (create) DocumentsContract.createDocument(resolver, docUri(id), Document.MIME_TYPE_DIR, part)?.let { DocumentsContract.getDocumentId(it) } ?: return null
                else return null
        }
        return id
    }

    private inline fun <T> io(what: String, block: () -> T): T = try {
        block()
    } catch (e: IOException) {
        throw ChatVaultException.Storage("$what: $e")
    } catch (e: SecurityException) {
        throw ChatVaultException.Storage("$what: permission to the folder was revoked ($e)")
    }

    override fun location(): String = tree.toString()

    override fun put(kind: ObjectKind, name: String, data: ByteArray) = io("put $name") {
        val dir = dirId(kind, name, create = true) ?: throw IOException("cannot create folders")
        val tmpName = ".tmp-" + UUID.randomUUID()
        val tmp = DocumentsContract.createDocument(resolver, docUri(dir), "application/octet-stream", tmpName) ?: throw IOException("cannot create $tmpName")
        resolver.openOutputStream(tmp, "w")?.use { it.write(data) } ?: throw IOException("cannot write $tmpName")
        child(dir, name)?.let { DocumentsContract.deleteDocument(resolver, docUri(it.id)) }
        DocumentsContract.renameDocument(resolver, tmp, name) ?: throw IOException("cannot rename $tmpName")
        Unit
    }

    private fun find(kind: ObjectKind, name: String): Child? = dirId(kind, name, create = false)?.let { child(it, name) }

    override fun get(kind: ObjectKind, name: String): ByteArray? = io("get $name") {
        find(kind, name)?.let { c -> resolver.openInputStream(docUri(c.id))?.use { it.readBytes() } }
    }

    override fun getRange(kind: ObjectKind, name: String, offset: ULong, length: ULong): ByteArray? = io("get $name") {
        val c = find(kind, name) ?: return@io null
        resolver.openFileDescriptor(docUri(c.id), "r")?.use { pfd ->
            FileInputStream(pfd.fileDescriptor).channel.use { ch ->
                val buf = java.nio.ByteBuffer.allocate(length.toInt())
                var pos = offset.toLong()
                while (buf.hasRemaining()) {
                    val n = ch.read(buf, pos)
                    if (n < 0) throw IOException("$name is shorter than expected")
                    pos += n
                }
                buf.array()
            }
        }
    }

    override fun size(kind: ObjectKind, name: String): ULong? = io("stat $name") { find(kind, name)?.size?.toULong() }

    override fun list(kind: ObjectKind): List<ObjectEntry> = io("list $kind") {
        val files = when (kind) {
            ObjectKind.CONFIG -> listOfNotNull(child(rootId, "config"))
            ObjectKind.PACK -> child(rootId, "data")?.let { data -> children(data.id).filter { it.isDir }.flatMap { children(it.id) } } ?: emptyList()
            else -> dirId(kind, "", create = false)?.let { children(it) } ?: emptyList()
        }
        files.filter { !it.isDir && !it.name.startsWith(".tmp-") }.map { ObjectEntry(it.name, it.size.toULong()) }
    }

    override fun delete(kind: ObjectKind, name: String) = io("delete $name") {
        find(kind, name)?.let { DocumentsContract.deleteDocument(resolver, docUri(it.id)) }
        Unit
    }
}
