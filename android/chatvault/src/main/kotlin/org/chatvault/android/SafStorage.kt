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

    /** Folder document ids by path ("data/ab"): folders are never removed, so each is looked up once. */
    private val dirIds = java.util.concurrent.ConcurrentHashMap<String, String>()

    private fun dirId(kind: ObjectKind, name: String, create: Boolean): String? {
        var id = rootId
        val path = StringBuilder()
        for (part in dirPath(kind, name)) {
            path.append('/').append(part)
            val parent = id
            id = dirIds[path.toString()]
                ?: child(parent, part)?.id
                ?: if (create) DocumentsContract.createDocument(resolver, docUri(parent), Document.MIME_TYPE_DIR, part)?.let { DocumentsContract.getDocumentId(it) } ?: return null
                else return null
            dirIds[path.toString()] = id
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
        write(tmp, data)
        // The data is on disk before the old object goes away.
        child(dir, name)?.let { DocumentsContract.deleteDocument(resolver, docUri(it.id)) }
        val renamed = try {
            DocumentsContract.renameDocument(resolver, tmp, name)
        } catch (e: UnsupportedOperationException) {
            null // a provider without rename (some cloud providers): written in place below
        }
        if (renamed == null) {
            val target = DocumentsContract.createDocument(resolver, docUri(dir), "application/octet-stream", name) ?: throw IOException("cannot create $name")
            write(target, data)
            DocumentsContract.deleteDocument(resolver, tmp)
        }
        Unit
    }

    /** Writes [data] to [doc] and syncs it (where the provider gives a real file). */
    private fun write(doc: Uri, data: ByteArray) {
        val pfd = resolver.openFileDescriptor(doc, "w") ?: throw IOException("cannot write $doc")
        pfd.use {
            java.io.FileOutputStream(it.fileDescriptor).use { out ->
                out.write(data)
                out.flush()
                try {
                    it.fileDescriptor.sync()
                } catch (e: java.io.SyncFailedException) {
                    // a pipe to a cloud provider: it persists when the descriptor closes
                }
            }
        }
    }

    private fun find(kind: ObjectKind, name: String): Child? = dirId(kind, name, create = false)?.let { child(it, name) }

    override fun get(kind: ObjectKind, name: String): ByteArray? = io("get $name") {
        find(kind, name)?.let { c -> resolver.openInputStream(docUri(c.id))?.use { it.readBytes() } }
    }

    override fun getRange(kind: ObjectKind, name: String, offset: ULong, length: ULong): ByteArray? = io("get $name") {
        val c = find(kind, name) ?: return@io null
        val seekable = resolver.openFileDescriptor(docUri(c.id), "r")?.use { pfd ->
            try {
                FileInputStream(pfd.fileDescriptor).channel.use { ch ->
                    val buf = java.nio.ByteBuffer.allocate(length.toInt())
                    var pos = offset.toLong()
                    while (buf.hasRemaining()) {
                        val n = ch.read(buf, pos)
                        if (n < 0) throw java.io.EOFException("$name is shorter than expected")
                        pos += n
                    }
                    buf.array()
                }
            } catch (e: java.io.EOFException) {
                throw e
            } catch (e: IOException) {
                null // a pipe (cloud providers stream): positional reads fail (ESPIPE)
            }
        }
        seekable ?: resolver.openInputStream(docUri(c.id))?.use { input ->
            var skipped = 0L
            while (skipped < offset.toLong()) {
                val n = input.skip(offset.toLong() - skipped)
                if (n <= 0) throw IOException("$name is shorter than expected")
                skipped += n
            }
            val out = ByteArray(length.toInt())  // (InputStream.readNBytes is API 33+; minSdk is 26)
            var got = 0
            while (got < out.size) {
                val n = input.read(out, got, out.size - got)
                if (n < 0) throw IOException("$name is shorter than expected")
                got += n
            }
            out
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
